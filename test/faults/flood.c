/* flood.c - test helper: opens N idle TCP connections to HOST:PORT and holds them.
 *
 *   flood HOST PORT N SECONDS
 *
 * Connects are nonblocking: a server that stops accepting fills its backlog, the kernel
 * then drops further SYNs, and a blocking connect would hang the test for minutes. Not a
 * byte is ever sent. After SECONDS it prints one line
 *   flood: N attempted, C connected, P still connecting, F failed, X closed by the server
 * and exits 0, closing everything. Its own descriptor limit is raised as far as the hard
 * limit allows; N is cut to fit when that is not enough.
 *
 * The machine is shared with other tests that bind 127.0.0.1 ports picked at random.
 * So, towards 127.0.0.1, the flood's own ends are bound to 127.0.0.2, where they take
 * no port from 127.0.0.1; and every socket is closed with a reset (SO_LINGER 0), which
 * leaves no TIME_WAIT behind to refuse a later bind of the same port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum conn_state { C_CONNECTING, C_OPEN, C_FAILED, C_CLOSED };

struct flood {
	struct pollfd *pfd;
	enum conn_state *state;
	int n;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Room for n sockets and a few more; returns how many fit. */
static int fit_limit(int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return n;
	if (rl.rlim_cur < (rlim_t)n + 16) {
		rl.rlim_cur = (rlim_t)n + 16;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
			rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur < (rlim_t)n + 16 ? (int)rl.rlim_cur - 16 : n;
}

/* A socket that ends with a reset, from 127.0.0.2 when the server is on 127.0.0.1. */
static int flood_socket(const struct sockaddr_in *sa)
{
	struct linger abort_on_close = { 1, 0 };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
	if (sa->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
		from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
		if (bind(fd, (const struct sockaddr *)&from, sizeof(from)) != 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void flood_open(struct flood *f, const struct sockaddr_in *sa)
{
	for (int i = 0; i < f->n; i++) {
		int fd = flood_socket(sa);

		f->pfd[i] = (struct pollfd){ .fd = fd, .events = POLLOUT };
		f->state[i] = C_CONNECTING;
		if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			f->state[i] = C_FAILED;
			f->pfd[i].fd = -1;
		}
	}
}

/* One socket became ready: a connect finished, or the server closed an open one. */
static void flood_step(struct flood *f, int i)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char buf[512];
	ssize_t r;

	if (f->state[i] == C_CONNECTING) {
		getsockopt(f->pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
		f->state[i] = err ? C_FAILED : C_OPEN;
		f->pfd[i].events = POLLIN;
	} else {
		/* Whatever the server says is read and dropped; only its close counts. */
		r = recv(f->pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0 || (r < 0 && errno == EAGAIN))
			return;
		f->state[i] = C_CLOSED;
	}
	if (f->state[i] == C_FAILED || f->state[i] == C_CLOSED) {
		close(f->pfd[i].fd);
		f->pfd[i].fd = -1;
	}
}

static void flood_report(const struct flood *f)
{
	int count[4] = { 0 };

	for (int i = 0; i < f->n; i++)
		count[f->state[i]]++;
	printf("flood: %d attempted, %d connected, %d still connecting, %d failed,"
	       " %d closed by the server\n", f->n, count[C_OPEN] + count[C_CLOSED],
	       count[C_CONNECTING], count[C_FAILED], count[C_CLOSED]);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct flood f;
	long long deadline;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: flood HOST PORT N SECONDS (HOST an IPv4 address)\n");
		return 2;
	}
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	f.n = fit_limit(atoi(argv[3]));
	f.pfd = calloc((size_t)f.n + 1, sizeof(*f.pfd));
	f.state = calloc((size_t)f.n + 1, sizeof(*f.state));
	if (f.n < 1 || !f.pfd || !f.state) {
		fprintf(stderr, "flood: cannot hold %s sockets\n", argv[3]);
		return 1;
	}
	deadline = mono_ms() + atoll(argv[4]) * 1000;
	flood_open(&f, &sa);
	for (long long now = mono_ms(); now < deadline; now = mono_ms()) {
		int ready = poll(f.pfd, (nfds_t)f.n, (int)(deadline - now));

		for (int i = 0; ready > 0 && i < f.n; i++) {
			if (f.pfd[i].fd >= 0 && f.pfd[i].revents) {
				flood_step(&f, i);
				ready--;
			}
		}
	}
	flood_report(&f);
	free(f.pfd);
	free(f.state);
	return 0;
}
