# Turns a file into a C array, so the program carries it and never needs the source tree:
#   cmake -DIN=page.html -DOUT=page.c -DNAME=symbol -P embed_file.cmake
# gives `const unsigned char symbol[]` (the bytes and a NUL) and `const size_t symbol_len`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
set(row "")
foreach(i RANGE 15)
  string(APPEND row "[0-9a-f][0-9a-f]")
endforeach()
string(REGEX REPLACE "(${row})" "\\1\n" hex "${hex}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(from "${IN}" NAME)
file(WRITE "${OUT}.tmp" "/* ${from}, made into an array by cmake/embed_file.cmake: edit ${from}, not this. */\n"
     "#include <stddef.h>\n\nconst unsigned char ${NAME}[] = {\n${bytes}0};\nconst size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
