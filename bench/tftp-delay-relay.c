/*
 * A point-to-point IP link between two network namespaces with a fixed one-way delay, forwarded in
 * user space: the stand-in for `tc qdisc add dev VETH root netem delay 1ms` on kernels built without
 * sch_netem. The C twin of tftp-delay-relay.py (same arguments), fast enough (~85k packets/s seen in
 * the benchmark) that it measures the TFTP servers rather than the link.
 *
 *   gcc -O2 -o relay bench/tftp-delay-relay.c
 *   ip netns exec NS_SERVER ./relay NS_SERVER ADDR_SERVER NS_CLIENT ADDR_CLIENT DELAY_MS LOSS_PERCENT [SEED]
 *
 * Must run inside NS_SERVER: both TUN devices are created there and one is moved to NS_CLIENT. Packets
 * from the server side to the client side are held DELAY_MS; the other direction is not delayed. Loss
 * applies both ways. Prints "ready" when forwarding and the packet counts on SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 65536 /* per direction; a full queue drops, as a real link would */
#define MTU 2048

struct slot {
  double due;
  unsigned short len;
  unsigned char data[MTU];
};

struct queue {
  struct slot *slots;
  unsigned head, tail; /* head: next to send; tail: next free */
};

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
  return fd;
}

static void sh(const char *cmd) {
  if (system(cmd) != 0) { fprintf(stderr, "failed: %s\n", cmd); exit(1); }
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s NS_SERVER ADDR_SERVER NS_CLIENT ADDR_CLIENT DELAY_MS LOSS_PERCENT [SEED]\n", argv[0]);
    return 2;
  }
  const char *ns[2] = {argv[1], argv[3]};
  const char *addr[2] = {argv[2], argv[4]};
  double delay = atof(argv[5]) / 1000.0;
  double loss = atof(argv[6]) / 100.0;
  srand48(argc > 7 ? atol(argv[7]) : 1);
  char name[2][IFNAMSIZ];
  int fd[2];
  for (int i = 0; i < 2; i++) {
    snprintf(name[i], IFNAMSIZ, "tr%d%c", (int)(getpid() % 100000), i == 0 ? 's' : 'c');
    fd[i] = open_tun(name[i]);
  }
  char cmd[512];
  for (int i = 0; i < 2; i++) {
    snprintf(cmd, sizeof cmd, "ip link set %s netns %s && ip -n %s addr add %s peer %s dev %s && ip -n %s link set %s txqueuelen 5000 up",
             name[i], ns[i], ns[i], addr[i], addr[1 - i], name[i], ns[i], name[i]);
    sh(cmd);
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  /* q[i] holds packets waiting to be written into side i. */
  struct queue q[2];
  double hold[2] = {0.0, delay}; /* towards the server: none; towards the client: the delay */
  for (int i = 0; i < 2; i++) {
    q[i].slots = calloc(SLOTS, sizeof(struct slot));
    q[i].head = q[i].tail = 0;
  }
  printf("ready\n");
  fflush(stdout);
  unsigned long forwarded = 0, dropped = 0;
  struct pollfd pfd[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
  while (!stop) {
    double t = now();
    double next = -1;
    for (int i = 0; i < 2; i++)
      if (q[i].head != q[i].tail) {
        double d = q[i].slots[q[i].head % SLOTS].due;
        if (next < 0 || d < next) next = d;
      }
    int timeout_ms = 500;
    struct timespec ts = {0, 0};
    if (next >= 0) {
      double wait = next - t;
      if (wait < 0) wait = 0;
      ts.tv_sec = (time_t)wait;
      ts.tv_nsec = (long)((wait - ts.tv_sec) * 1e9);
      timeout_ms = -2;
    }
    int n = timeout_ms == -2 ? ppoll(pfd, 2, &ts, NULL) : poll(pfd, 2, timeout_ms);
    if (n < 0 && errno != EINTR) { perror("poll"); break; }
    for (int src = 0; src < 2 && n > 0; src++) {
      if (!(pfd[src].revents & POLLIN)) continue;
      int dst = 1 - src;
      for (;;) {
        struct queue *qq = &q[dst];
        struct slot *s = &qq->slots[qq->tail % SLOTS];
        ssize_t len = read(fd[src], s->data, MTU);
        if (len <= 0) break;
        if ((loss > 0 && drand48() < loss) || qq->tail - qq->head >= SLOTS) { dropped++; continue; }
        s->len = (unsigned short)len;
        s->due = now() + hold[dst];
        qq->tail++;
      }
    }
    t = now();
    for (int i = 0; i < 2; i++) {
      while (q[i].head != q[i].tail && q[i].slots[q[i].head % SLOTS].due <= t) {
        struct slot *s = &q[i].slots[q[i].head % SLOTS];
        if (write(fd[i], s->data, s->len) >= 0) forwarded++;
        q[i].head++;
      }
    }
  }
  printf("forwarded %lu dropped %lu\n", forwarded, dropped);
  return 0;
}
