# Writes the commit the build is of, as a C header, at every build (not only when CMake
# configures), and touches the file only when it changes, so that a rebuild after a commit
# says the new commit and a build of an unchanged tree recompiles nothing:
#   cmake -DSRC=source-dir -DOUT=nomad_git.h -P git_hash.cmake
# "abc123def456", "abc123def456-dirty" when tracked files differ from HEAD, "unknown" outside git.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SRC}"
                OUTPUT_VARIABLE hash OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT hash)
  set(hash "unknown")
else()
  execute_process(COMMAND git diff --quiet HEAD -- WORKING_DIRECTORY "${SRC}" RESULT_VARIABLE dirty ERROR_QUIET)
  if(NOT dirty EQUAL 0)
    string(APPEND hash "-dirty")
  endif()
endif()
set(text "/* Made by cmake/git_hash.cmake at build time. */\n#define NOMAD_GIT_HASH \"${hash}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
