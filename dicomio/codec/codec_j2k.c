/* JPEG 2000 (DICOM .90/.91) through OpenJPEG (libopenjp2), reading the
 * frame from memory. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <openjpeg.h>
#include "codec_c.h"

struct lsg_mem {
	const unsigned char *p;
	size_t n, off;
};

static OPJ_SIZE_T lsg_read(void *buf, OPJ_SIZE_T n, void *ud) {
	struct lsg_mem *m = ud;
	if (m->off >= m->n) return (OPJ_SIZE_T)-1;
	if (n > m->n - m->off) n = m->n - m->off;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return n;
}
static OPJ_OFF_T lsg_skip(OPJ_OFF_T n, void *ud) {
	struct lsg_mem *m = ud;
	if (n < 0) {
		if ((size_t)(-n) > m->off) n = -(OPJ_OFF_T)m->off;
	} else if ((size_t)n > m->n - m->off) {
		n = (OPJ_OFF_T)(m->n - m->off);
	}
	m->off += n;
	return n;
}
static OPJ_BOOL lsg_seek(OPJ_OFF_T n, void *ud) {
	struct lsg_mem *m = ud;
	if (n < 0 || (size_t)n > m->n) return OPJ_FALSE;
	m->off = (size_t)n;
	return OPJ_TRUE;
}

struct lsg_msg {
	char *err;
	int len;
};
static void lsg_err_cb(const char *msg, void *ud) {
	struct lsg_msg *m = ud;
	if (m->err[0] == 0) {
		snprintf(m->err, (size_t)m->len, "%s", msg);
		size_t l = strlen(m->err);
		while (l > 0 && (m->err[l - 1] == '\n' || m->err[l - 1] == '\r')) m->err[--l] = 0;
	}
}
static void lsg_quiet_cb(const char *msg, void *ud) { (void)msg; (void)ud; }

int lsg_j2k(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, int *sgnd, char *err, int errlen) {
	struct lsg_mem mem = {in, n, 0};
	struct lsg_msg msg = {err, errlen};
	err[0] = 0;
	/* A JP2 file starts with a signature box; DICOM normally holds a bare
	 * codestream (SOC marker FF4F), but some writers wrap it. */
	OPJ_CODEC_FORMAT fmt = OPJ_CODEC_J2K;
	if (n >= 12 && memcmp(in, "\x00\x00\x00\x0cjP  \r\n\x87\n", 12) == 0) fmt = OPJ_CODEC_JP2;
	opj_codec_t *c = opj_create_decompress(fmt);
	if (!c) {
		snprintf(err, (size_t)errlen, "cannot create a JPEG 2000 decoder");
		return 1;
	}
	opj_set_error_handler(c, lsg_err_cb, &msg);
	opj_set_warning_handler(c, lsg_quiet_cb, NULL);
	opj_set_info_handler(c, lsg_quiet_cb, NULL);
	opj_dparameters_t par;
	opj_set_default_decoder_parameters(&par);
	opj_stream_t *s = opj_stream_create(1 << 16, OPJ_TRUE);
	opj_stream_set_user_data(s, &mem, NULL);
	opj_stream_set_user_data_length(s, n);
	opj_stream_set_read_function(s, lsg_read);
	opj_stream_set_skip_function(s, lsg_skip);
	opj_stream_set_seek_function(s, lsg_seek);
	opj_image_t *img = NULL;
	int rc = 0;
	/* Strict mode: a truncated codestream is an error, not a partly
	 * decoded image (OpenJPEG's default fills in what it could read). */
	if (!opj_setup_decoder(c, &par) || !opj_decoder_set_strict_mode(c, OPJ_TRUE) || !opj_read_header(s, c, &img)) {
		if (!err[0]) snprintf(err, (size_t)errlen, "cannot read the JPEG 2000 header");
		rc = 2;
		goto done;
	}
	/* Check the size before the library allocates the image. */
	if (img->numcomps != 1 || (int)(img->x1 - img->x0) != cols || (int)(img->y1 - img->y0) != rows) {
		snprintf(err, (size_t)errlen, "JPEG 2000 stream is %ux%u with %u component(s), the header says %dx%d greyscale",
		         img->x1 - img->x0, img->y1 - img->y0, img->numcomps, cols, rows);
		rc = 3;
		goto done;
	}
	if (!opj_decode(c, s, img) || !opj_end_decompress(c, s)) {
		if (!err[0]) snprintf(err, (size_t)errlen, "JPEG 2000 decoding failed");
		rc = 4;
		goto done;
	}
	opj_image_comp_t *cp = &img->comps[0];
	if ((int)cp->w != cols || (int)cp->h != rows || cp->data == NULL || cp->prec < 1 || cp->prec > 16) {
		snprintf(err, (size_t)errlen, "JPEG 2000 component is %ux%u at %u bits, need %dx%d at 16 bits or fewer", cp->w, cp->h, cp->prec, cols, rows);
		rc = 5;
		goto done;
	}
	*prec = (int)cp->prec;
	*sgnd = (int)cp->sgnd;
	size_t np = (size_t)cols * (size_t)rows;
	/* Signed samples keep their two's complement bit pattern. */
	for (size_t i = 0; i < np; i++) out[i] = (uint16_t)cp->data[i];
done:
	if (img) opj_image_destroy(img);
	opj_stream_destroy(s);
	opj_destroy_codec(c);
	return rc;
}
