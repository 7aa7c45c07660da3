/* Named data sets that Debian packages install: a name stands for a list of IDX files (one
 * matrix, one label vector). Files live under $NOMAD_DATASETS_DIR or /usr/share/datasets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

typedef struct {
    const char *name;    /* the alias, also its folder under the datasets root */
    const char *package; /* the Debian package that installs it */
    const char *images[NMP_IO_MAX_FILES];
    const char *labels[NMP_IO_MAX_FILES];
} alias_def;

/* Train first, then test: the usual 70,000-point Fashion-MNIST of the t-SNE/UMAP papers. */
static const alias_def ALIASES[] = {
    {"fashion-mnist",
     "dataset-fashion-mnist",
     {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"},
     {"train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}},
};

static const alias_def *find_alias(const char *name)
{
    for (size_t i = 0; name && i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (strcmp(name, ALIASES[i].name) == 0) return &ALIASES[i];
    return NULL;
}

int nmp_io_is_alias(const char *name) { return find_alias(name) != NULL; }

const char *nmp_data_default_labels(const char *data_path)
{
    const alias_def *a = find_alias(data_path);
    return a ? a->name : NULL;
}

nmp_status nmp_io_alias_files(const char *name, int labels, nmp_io_files *files, nmp_err *err)
{
    const alias_def *a = find_alias(name);
    memset(files, 0, sizeof *files);
    if (!a) return nmp_fail(err, NMP_ERR_INVALID, "%s: not a known data set name", name);
    const char *root = getenv("NOMAD_DATASETS_DIR");
    if (!root || !*root) root = "/usr/share/datasets";
    const char *const *names = labels ? a->labels : a->images;
    for (int i = 0; i < NMP_IO_MAX_FILES && names[i]; i++) {
        char *p = files->path[files->count++];
        if (snprintf(p, sizeof files->path[0], "%s/%s/%s", root, a->name, names[i]) >= (int)sizeof files->path[0])
            return nmp_fail(err, NMP_ERR_INVALID, "%s: path under %s is too long", name, root);
        if (access(p, R_OK) != 0)
            return nmp_fail(err, NMP_ERR_IO, "%s: %s not found; install the data set with `apt-get install %s`", name,
                            p, a->package);
    }
    return NMP_OK;
}
