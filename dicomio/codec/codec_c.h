/* C entry points of the compressed-pixel decoders (see codec.go). Each
 * decodes one frame of one greyscale component into uint16 samples and
 * returns 0, or a non-zero code with a message in err. None of them exits,
 * aborts or prints: library errors are turned into return codes. */
#ifndef LSG_CODEC_C_H
#define LSG_CODEC_C_H
#include <stddef.h>
#include <stdint.h>

int lsg_jpeg8(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, char *err, int errlen);
int lsg_jpeg12(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, char *err, int errlen);
int lsg_jpeg16(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, char *err, int errlen);
int lsg_j2k(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, int *sgnd, char *err, int errlen);
int lsg_jls(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, char *err, int errlen);
#endif
