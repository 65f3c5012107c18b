/* JPEG-LS lossless and near-lossless (DICOM .80/.81) through CharLS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <charls/charls.h>
#include "codec_c.h"

int lsg_jls(const unsigned char *in, size_t n, int cols, int rows, uint16_t *out, int *prec, char *err, int errlen) {
	charls_jpegls_decoder *d = charls_jpegls_decoder_create();
	if (!d) {
		snprintf(err, (size_t)errlen, "cannot create a JPEG-LS decoder");
		return 1;
	}
	int rc = 0;
	unsigned char *tmp = NULL;
	charls_frame_info fi;
	charls_jpegls_errc ec = charls_jpegls_decoder_set_source_buffer(d, in, n);
	if (ec == 0) ec = charls_jpegls_decoder_read_header(d);
	if (ec == 0) ec = charls_jpegls_decoder_get_frame_info(d, &fi);
	if (ec != 0) {
		snprintf(err, (size_t)errlen, "JPEG-LS header: %s", charls_get_error_message(ec));
		rc = 2;
		goto done;
	}
	*prec = fi.bits_per_sample;
	if (fi.component_count != 1 || (int)fi.width != cols || (int)fi.height != rows || fi.bits_per_sample < 2 || fi.bits_per_sample > 16) {
		snprintf(err, (size_t)errlen, "JPEG-LS stream is %ux%u, %d component(s) of %d bits; the header says %dx%d greyscale",
		         fi.width, fi.height, fi.component_count, fi.bits_per_sample, cols, rows);
		rc = 3;
		goto done;
	}
	size_t np = (size_t)cols * (size_t)rows;
	if (fi.bits_per_sample > 8) {
		ec = charls_jpegls_decoder_decode_to_buffer(d, out, np * 2, 0);
	} else {
		tmp = malloc(np);
		if (!tmp) {
			snprintf(err, (size_t)errlen, "out of memory");
			rc = 4;
			goto done;
		}
		ec = charls_jpegls_decoder_decode_to_buffer(d, tmp, np, 0);
		if (ec == 0)
			for (size_t i = 0; i < np; i++) out[i] = tmp[i];
	}
	if (ec != 0) {
		snprintf(err, (size_t)errlen, "JPEG-LS: %s", charls_get_error_message(ec));
		rc = 5;
	}
done:
	free(tmp);
	charls_jpegls_decoder_destroy(d);
	return rc;
}
