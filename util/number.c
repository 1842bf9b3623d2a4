/*
 * number: the one display formatter of metric values (see number.h).
 * printf's %.6g does the rounding; the exponent is then shortened
 * ("1e-05" -> "1e-5", "1e+06" -> "1e6"), which reads better in a small
 * label and still parses as the same number.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/number.h"

char *number_display(double v, char *buf, size_t len)
{
	char text[32], *e, *out, *digits;

	if (!buf || len == 0)
		return buf;
	if (isnan(v)) {
		snprintf(buf, len, "nan");
		return buf;
	}
	if (isinf(v)) {
		snprintf(buf, len, v < 0 ? "-inf" : "inf");
		return buf;
	}
	snprintf(text, sizeof text, "%.*g", NUMBER_DISPLAY_DIGITS,
		 v == 0 ? 0.0 : v); /* no "-0" */
	e = strchr(text, 'e');
	if (e) {
		out = e + 1;
		digits = out;
		if (*digits == '-')
			*out++ = *digits++;
		else if (*digits == '+')
			digits++;
		while (*digits == '0' && digits[1])
			digits++;
		memmove(out, digits, strlen(digits) + 1);
	}
	snprintf(buf, len, "%s", text);
	return buf;
}
