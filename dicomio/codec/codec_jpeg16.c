#define LSG_JPEG_HEADER <gdcmjpeg/16/jpeglib.h>
#define LSG_FN lsg_jpeg16
#include "codec_jpeg_impl.h"
