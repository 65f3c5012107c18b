/* One decoder over GDCM's IJG libraries (libgdcmjpeg8/12/16: IJG 6b with
 * the lossless process 14 patches, the same code GDCM itself decodes
 * DICOM JPEG with). Included by codec_jpeg8.c, codec_jpeg12.c and
 * codec_jpeg16.c with LSG_JPEG_HEADER and LSG_FN set: the three libraries
 * have the same API under different symbol prefixes and sample types. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include LSG_JPEG_HEADER
#include "codec_c.h"

struct lsg_err {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
};

/* error_exit must not return (the library would exit()): jump back. */
static void lsg_error_exit(j_common_ptr c) { longjmp(((struct lsg_err *)c->err)->jb, 1); }
/* Warnings (corrupt data that the library can work around) are silent. */
static void lsg_emit(j_common_ptr c, int level) { (void)c; (void)level; }
static void lsg_output(j_common_ptr c) { (void)c; }

/* An in-memory source: the whole frame is one buffer. Reading past its
 * end yields a fake EOI, as libjpeg's own memory source does. */
static void lsg_init_source(j_decompress_ptr d) { (void)d; }
static boolean lsg_fill(j_decompress_ptr d) {
	static const JOCTET eoi[2] = {0xFF, JPEG_EOI};
	d->src->next_input_byte = eoi;
	d->src->bytes_in_buffer = 2;
	return TRUE;
}
static void lsg_skip(j_decompress_ptr d, long n) {
	if (n <= 0) return;
	if ((size_t)n > d->src->bytes_in_buffer) {
		lsg_fill(d);
		return;
	}
	d->src->next_input_byte += n;
	d->src->bytes_in_buffer -= (size_t)n;
}
static void lsg_term(j_decompress_ptr d) { (void)d; }

int LSG_FN(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, char *err, int errlen) {
	struct jpeg_decompress_struct d;
	struct lsg_err je;
	struct jpeg_source_mgr src;
	memset(&d, 0, sizeof d);
	d.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = lsg_error_exit;
	je.pub.emit_message = lsg_emit;
	je.pub.output_message = lsg_output;
	if (setjmp(je.jb)) {
		char msg[JMSG_LENGTH_MAX];
		(*d.err->format_message)((j_common_ptr)&d, msg);
		snprintf(err, (size_t)errlen, "%s", msg);
		jpeg_destroy_decompress(&d);
		return 1;
	}
	jpeg_create_decompress(&d);
	src.next_input_byte = in;
	src.bytes_in_buffer = n;
	src.init_source = lsg_init_source;
	src.fill_input_buffer = lsg_fill;
	src.skip_input_data = lsg_skip;
	src.resync_to_restart = jpeg_resync_to_restart;
	src.term_source = lsg_term;
	d.src = &src;
	jpeg_read_header(&d, TRUE);
	*prec = d.data_precision;
	if (d.num_components != 1) {
		snprintf(err, (size_t)errlen, "JPEG stream has %d components, a greyscale image needs 1", d.num_components);
		jpeg_destroy_decompress(&d);
		return 2;
	}
	/* Check the size before the library allocates anything for it. */
	if ((int)d.image_width != cols || (int)d.image_height != rows) {
		snprintf(err, (size_t)errlen, "JPEG stream is %ux%u, the header says %dx%d", d.image_width, d.image_height, cols, rows);
		jpeg_destroy_decompress(&d);
		return 3;
	}
	d.out_color_space = JCS_GRAYSCALE;
	jpeg_start_decompress(&d);
	JSAMPARRAY rows1 = (*d.mem->alloc_sarray)((j_common_ptr)&d, JPOOL_IMAGE, (JDIMENSION)cols, 1);
	while (d.output_scanline < d.output_height) {
		JDIMENSION y = d.output_scanline;
		if (jpeg_read_scanlines(&d, rows1, 1) != 1) {
			snprintf(err, (size_t)errlen, "JPEG stream ended at row %u of %d", y, rows);
			jpeg_destroy_decompress(&d);
			return 4;
		}
		uint16_t *o = out + (size_t)y * (size_t)cols;
		for (int x = 0; x < cols; x++) o[x] = (uint16_t)GETJSAMPLE(rows1[0][x]);
	}
	/* Not jpeg_finish_decompress: bytes after the last scan (padding,
	 * a missing EOI) do not make a complete image wrong. */
	jpeg_destroy_decompress(&d);
	return 0;
}
