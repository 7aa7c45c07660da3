/* nomad: entry point. */
#include <stdio.h>
int main(void) { puts("nomad"); return 0; }
