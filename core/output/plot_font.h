/* A 5x7 bitmap font for legends (digits, minus, letters used in labels). */
#ifndef NOMAD_PLOT_FONT_H
#define NOMAD_PLOT_FONT_H

#include <stdint.h>

/* Seven rows of five bits (MSB = leftmost) for c, or NULL if the font lacks it. */
const uint8_t *nmp_font_glyph(char c);

#endif
