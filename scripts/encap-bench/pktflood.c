// Raw Ethernet flood with sendmmsg on an AF_PACKET socket (qdisc bypass), so the sender's
// cost is the same whatever encapsulation the frames carry:
//   ./pktflood IFACE DSTMAC SECONDS none|vlan:ID|pppoe:SID
// Frames: IPv4 UDP 10.99.1.1:5000 -> 10.99.2.1:6000, 18-byte payload (as udpflood.c).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#define B 64
static unsigned short csum(unsigned char *p, int n) {
  unsigned long s = 0;
  for (int i = 0; i < n; i += 2) s += (p[i] << 8) | p[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s;
}
int main(int c, char **v) {
  int s = socket(AF_PACKET, SOCK_RAW, 0);
  int one = 1;
  setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, v[1], IFNAMSIZ - 1);
  ioctl(s, SIOCGIFINDEX, &ifr);
  int ifindex = ifr.ifr_ifindex;
  ioctl(s, SIOCGIFHWADDR, &ifr);
  unsigned char f[128], dst[6];
  sscanf(v[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst[0], &dst[1], &dst[2], &dst[3], &dst[4], &dst[5]);
  memcpy(f, dst, 6);
  memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
  int o = 12;
  const char *enc = v[4];
  if (!strncmp(enc, "vlan:", 5)) {
    int id = atoi(enc + 5);
    f[o++] = 0x81; f[o++] = 0x00; f[o++] = id >> 8; f[o++] = id & 0xff;
  }
  int ppp = !strncmp(enc, "pppoe:", 6);
  int iplen = 20 + 8 + 18;
  if (ppp) {
    int sid = strtol(enc + 6, 0, 0);
    f[o++] = 0x88; f[o++] = 0x64;
    f[o++] = 0x11; f[o++] = 0x00; f[o++] = sid >> 8; f[o++] = sid & 0xff;
    f[o++] = (iplen + 2) >> 8; f[o++] = (iplen + 2) & 0xff;
    f[o++] = 0x00; f[o++] = 0x21;
  } else {
    f[o++] = 0x08; f[o++] = 0x00;
  }
  unsigned char *ip = f + o;
  memset(ip, 0, iplen);
  ip[0] = 0x45; ip[2] = iplen >> 8; ip[3] = iplen & 0xff; ip[6] = 0x40; ip[8] = 64; ip[9] = 17;
  ip[12] = 10; ip[13] = 99; ip[14] = 1; ip[15] = 1;
  ip[16] = 10; ip[17] = 99; ip[18] = 2; ip[19] = 1;
  unsigned short cs = csum(ip, 20);
  ip[10] = cs >> 8; ip[11] = cs & 0xff;
  unsigned char *u = ip + 20;
  u[0] = 5000 >> 8; u[1] = 5000 & 0xff; u[2] = 6000 >> 8; u[3] = 6000 & 0xff; u[4] = 0; u[5] = 26;
  memset(u + 8, 'x', 18);
  int len = o + iplen;
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET; sll.sll_ifindex = ifindex; sll.sll_halen = 6;
  memcpy(sll.sll_addr, dst, 6);
  struct mmsghdr m[B]; struct iovec io[B];
  for (int i = 0; i < B; i++) {
    io[i].iov_base = f; io[i].iov_len = len;
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &io[i]; m[i].msg_hdr.msg_iovlen = 1;
    m[i].msg_hdr.msg_name = &sll; m[i].msg_hdr.msg_namelen = sizeof sll;
  }
  double secs = atof(v[3]);
  struct timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0);
  long sent = 0;
  for (;;) {
    int r = sendmmsg(s, m, B, 0);
    if (r > 0) sent += r; else { perror("sendmmsg"); return 1; }
    if ((sent & 0xfff) < B) {
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs) break;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t);
  double el = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sent %ld in %.3f s = %.0f pps\n", sent, el, sent / el);
  return 0;
}
