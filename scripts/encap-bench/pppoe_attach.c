// Binds a kernel PPPoE session to a new ppp unit without pppd, and keeps it open:
//   ./pppoe_attach DEV SID PEERMAC   (prints the unit number, then sleeps)
// The ioctls pppd's rp-pppoe plugin makes: connect an AF_PPPOX socket, PPPIOCGCHAN,
// PPPIOCATTCHAN and PPPIOCNEWUNIT on /dev/ppp, PPPIOCCONNECT.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_pppox.h>
#include <linux/ppp-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int c, char **v) {
  int s = socket(AF_PPPOX, SOCK_STREAM, PX_PROTO_OE);
  if (s < 0) { perror("socket"); return 1; }
  struct sockaddr_pppox sp = {0};
  sp.sa_family = AF_PPPOX; sp.sa_protocol = PX_PROTO_OE;
  sp.sa_addr.pppoe.sid = htons(strtol(v[2], 0, 0));
  sscanf(v[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &sp.sa_addr.pppoe.remote[0], &sp.sa_addr.pppoe.remote[1],
         &sp.sa_addr.pppoe.remote[2], &sp.sa_addr.pppoe.remote[3], &sp.sa_addr.pppoe.remote[4], &sp.sa_addr.pppoe.remote[5]);
  strncpy(sp.sa_addr.pppoe.dev, v[1], IFNAMSIZ - 1);
  struct sockaddr_storage ss; // sockaddr_pppox is packed: connect through an aligned copy
  memcpy(&ss, &sp, sizeof sp);
  if (connect(s, (struct sockaddr *)&ss, sizeof sp) < 0) { perror("connect"); return 1; }
  int chan;
  if (ioctl(s, PPPIOCGCHAN, &chan) < 0) { perror("PPPIOCGCHAN"); return 1; }
  int fch = open("/dev/ppp", O_RDWR);
  if (fch < 0 || ioctl(fch, PPPIOCATTCHAN, &chan) < 0) { perror("PPPIOCATTCHAN"); return 1; }
  int fu = open("/dev/ppp", O_RDWR);
  int unit = -1;
  if (fu < 0 || ioctl(fu, PPPIOCNEWUNIT, &unit) < 0) { perror("PPPIOCNEWUNIT"); return 1; }
  if (ioctl(fch, PPPIOCCONNECT, &unit) < 0) { perror("PPPIOCCONNECT"); return 1; }
  printf("%d\n", unit);
  fflush(stdout);
  for (;;) pause();
}
