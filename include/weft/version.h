/* weft — version of the headers and of the library. */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

/**
 * @file weft/version.h
 * @brief The version of the headers, at compile time; weft_version() gives
 * the library's at run time.
 *
 * weft follows semantic versioning: the major version is the shared
 * library's SONAME (libweft.so.MAJOR), and the CMake package accepts any
 * version with the same major. The build reads the version from this file.
 */

/** Major version: changes when the API or ABI breaks. */
#define WEFT_VERSION_MAJOR 0
/** Minor version: changes when something is added compatibly. */
#define WEFT_VERSION_MINOR 1
/** Patch version: changes with fixes only. */
#define WEFT_VERSION_PATCH 0

/** The version as one number, (major << 16) | (minor << 8) | patch. */
#define WEFT_VERSION_HEX \
  ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

#endif /* WEFT_VERSION_H */
