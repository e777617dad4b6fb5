/*
 * accesslog: write a realistic web server access log (the combined log
 * format of nginx and Apache) to standard output, the same for the same
 * seed: clients from a few thousand addresses, some much busier than
 * others; times a few milliseconds apart; pages, assets, API calls with
 * ids and query strings; status codes, sizes, referrers and user agents
 * in the proportions a public site sees.  For the benchmarks and tests
 * of compressed segments.
 *
 *	accesslog [-n lines] [-s seed]
 */
#include <err.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define NCLIENTS	4000

static uint32_t	rnd(void);
static uint32_t	pick(uint32_t);
static uint32_t	skewed(uint32_t);
static __attribute__((noreturn)) void usage(void);

static uint64_t	state;

static const char *const methods[] = {
	"GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST",
	"POST", "HEAD", "PUT", "DELETE", "OPTIONS"
};

static const char *const pages[] = {
	"/", "/index.html", "/about", "/contact", "/pricing", "/blog",
	"/blog/feed.xml", "/login", "/logout", "/signup", "/search",
	"/docs", "/docs/getting-started", "/docs/api", "/docs/faq",
	"/robots.txt", "/sitemap.xml", "/favicon.ico", "/wp-login.php",
	"/.env", "/admin", "/cart", "/checkout", "/account/settings"
};

static const char *const assets[] = {
	"/static/css/main.%x.css", "/static/js/app.%x.js",
	"/static/js/vendor.%x.js", "/static/img/logo.png",
	"/static/img/hero-%u.jpg", "/static/fonts/inter-%u.woff2",
	"/images/products/%u/thumb.webp", "/images/products/%u/large.jpg"
};

static const char *const apis[] = {
	"/api/v1/products/%u", "/api/v1/products?page=%u&sort=price",
	"/api/v1/users/%u/orders", "/api/v1/cart/%u/items",
	"/api/v2/search?q=item%u&limit=20", "/api/v1/orders/%u/status",
	"/api/v1/sessions", "/api/v1/metrics?since=%u"
};

static const char *const referrers[] = {
	"-", "-", "-", "https://www.google.com/", "https://www.google.com/",
	"https://www.bing.com/", "https://duckduckgo.com/",
	"https://example.com/", "https://example.com/blog",
	"https://example.com/docs", "https://example.com/pricing",
	"https://news.ycombinator.com/", "https://t.co/aB3xYz",
	"https://www.reddit.com/r/programming/"
};

static const char *const agents[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
	    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
	    "(KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
	    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 "
	    "Firefox/127.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 "
	    "Firefox/127.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
	    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
	    "Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
	    "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (compatible; Googlebot/2.1; "
	    "+http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; "
	    "+http://www.bing.com/bingbot.htm)",
	"curl/7.88.1", "python-requests/2.31.0", "Go-http-client/1.1",
	"Wget/1.21.3", "kube-probe/1.29", "Prometheus/2.51.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
	    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
};

#define N(a)	(uint32_t)(sizeof(a) / sizeof((a)[0]))

/* xorshift64*: small, fast and the same everywhere. */
static uint32_t
rnd(void)
{
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545f4914f6cdd1dULL) >> 32);
}

static uint32_t
pick(uint32_t n)
{
	return rnd() % n;
}

/* 0 .. n-1, small values much more often (roughly Zipf). */
static uint32_t
skewed(uint32_t n)
{
	uint32_t a = pick(n), b = pick(n);

	return (uint32_t)((uint64_t)a * b / n);
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: accesslog [-n lines] [-s seed]\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static uint32_t ips[NCLIENTS], client_agent[NCLIENTS];
	const char *errstr, *method, *tmpl;
	char path[256];
	long long lines = 100000, i;
	uint64_t seed = 1;
	time_t t = 1790000000;	/* a fixed day */
	uint32_t c, ms = 0, r, status, size, ip;
	struct tm tm;
	int ch;

	while ((ch = getopt(argc, argv, "n:s:")) != -1) {
		switch (ch) {
		case 'n':
			lines = strtonum(optarg, 0, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "-n: '%s' is %s", optarg,
				    errstr);
			break;
		case 's':
			seed = (uint64_t)strtonum(optarg, 0, LLONG_MAX,
			    &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "-s: '%s' is %s", optarg,
				    errstr);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	state = seed * 0x9e3779b97f4a7c15ULL + 0x1234567;
	for (c = 0; c < NCLIENTS; c++) {
		r = rnd();
		/* Mostly a few networks, some from anywhere. */
		if (r % 4)
			ips[c] = (r % 3 == 0 ? 0x0a000000U : r % 3 == 1 ?
			    0xc0a80000U : 0xcb007100U) | (rnd() & 0xffffU);
		else
			ips[c] = rnd();
		client_agent[c] = skewed(N(agents));
	}
	for (i = 0; i < lines; i++) {
		/* A few milliseconds apart, now and then a quiet second. */
		ms += 1 + skewed(40);
		if (pick(200) == 0)
			ms += 1000;
		t += ms / 1000;
		ms %= 1000;
		c = skewed(NCLIENTS);
		ip = ips[c];
		method = methods[pick(N(methods))];
		r = pick(100);
		if (r < 35) {
			tmpl = assets[pick(N(assets))];
			snprintf(path, sizeof(path), tmpl, skewed(5000));
			size = 1000 + skewed(400000);
		} else if (r < 70) {
			tmpl = apis[pick(N(apis))];
			snprintf(path, sizeof(path), tmpl, skewed(100000));
			size = 50 + skewed(8000);
		} else {
			snprintf(path, sizeof(path), "%s",
			    pages[skewed(N(pages))]);
			size = 2000 + skewed(60000);
		}
		r = pick(1000);
		status = r < 800 ? 200 : r < 850 ? 304 : r < 900 ? 301 :
		    r < 960 ? 404 : r < 975 ? 403 : r < 985 ? 401 : r < 995 ?
		    500 : 503;
		if (status == 304 || status == 301)
			size = 0;
		else if (status >= 400)
			size = 150 + pick(400);
		gmtime_r(&t, &tm);
		printf("%u.%u.%u.%u - - [%02d/%s/%d:%02d:%02d:%02d +0000] "
		    "\"%s %s HTTP/1.1\" %u %u \"%s\" \"%s\"\n",
		    ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff,
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, method, path, status, size,
		    referrers[skewed(N(referrers))],
		    agents[pick(10) ? client_agent[c] : pick(N(agents))]);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EX_IOERR, "stdout");
	return 0;
}
