#define LSG_JPEG_HEADER <gdcmjpeg/12/jpeglib.h>
#define LSG_FN lsg_jpeg12
#include "codec_jpeg_impl.h"
