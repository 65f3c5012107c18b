#define LSG_JPEG_HEADER <gdcmjpeg/8/jpeglib.h>
#define LSG_FN lsg_jpeg8
#include "codec_jpeg_impl.h"
