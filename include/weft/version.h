/* weft — version of the headers and of the library. */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/** The version as one number, (major << 16) | (minor << 8) | patch. */
#define WEFT_VERSION_HEX \
  ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

#endif /* WEFT_VERSION_H */
