/*
 * JSON strings (RFC 8259), the one writer of every program's JSON output.
 *
 * A string is written between double quotes, byte for byte, except:
 *   "  and  \          as \"  and \\
 *   newline, tab, CR   as \n, \t, \r
 *   other bytes below 0x20, and every byte that is not part of a valid
 *   UTF-8 sequence (a lone continuation byte, an overlong form, a
 *   surrogate, a code point above U+10FFFF, a sequence cut short, 0xF8
 *   to 0xFF)       as \u00XX, XX its value in lowercase hexadecimal.
 * Valid UTF-8 sequences, DEL and the other printable ASCII bytes are
 * written as they are.  Since a valid character U+0080..U+00FF is never
 * escaped, a reader that maps \u0000..\u00ff back to the byte of that
 * value gets the input exactly back: the encoding loses nothing, and its
 * output is valid UTF-8 even when the input is not.
 */
#ifndef BUS_JSON_H
#define BUS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Bytes json_str_put() may write for n input bytes, quotes included
 * (n at most SIZE_MAX / 6).
 */
static inline size_t
json_str_max(size_t n)
{
	return 6 * n + 2;
}

/*
 * Write s (n bytes) as a quoted JSON string at dst, which has room for
 * json_str_max(n) bytes; returns the bytes written.  No allocation.
 */
size_t	json_str_put(char *, const void *, size_t);
/*
 * The same without the quotes, for a string written in pieces (into a
 * buffer smaller than json_str_max() of the whole): json_esc_cut(s, n,
 * max) is the length, at most max (max >= 4) and at least 1 when n > 0,
 * of a first piece of s that escapes as it does within the whole string.
 */
size_t	json_esc_put(char *, const void *, size_t);
size_t	json_esc_cut(const void *, size_t, size_t);
/* The same onto a stdio stream (errors are left in ferror(f)). */
void	json_fputs(FILE *, const void *, size_t);
/* A C string as a JSON string, quotes and escapes included. */
void	json_str(FILE *, const char *);
/* Is s (n bytes) valid UTF-8 throughout?  1 if so, else 0. */
int	json_utf8_valid(const void *, size_t);

#endif /* BUS_JSON_H */
