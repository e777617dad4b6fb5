/*
 * Hexadecimal digits, as the -F escapes (\xHH) and the bridge's %XX
 * headers write bytes.
 */
#ifndef BUS_HEX_H
#define BUS_HEX_H

/* The value of a hex digit of either case, or -1 if c is not one. */
int	hexval(int);

#endif /* BUS_HEX_H */
