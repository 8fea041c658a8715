// Context-switch cost (lmbench lat_ctx-style): two processes pinned to one CPU pass a byte
// through two pipes; each round trip is two switches plus two write+read pairs. The same
// write+read pairs without a switch (one process, one pipe) are measured and subtracted.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int n=argc>1?atoi(argv[1]):200000; cpu_set_t s; CPU_ZERO(&s); CPU_SET(0,&s); sched_setaffinity(0,sizeof s,&s);
  int a[2],b[2],c[2]; pipe(a); pipe(b); pipe(c); char x=0;
  double t0=now(); for(int i=0;i<n;i++){ write(c[1],&x,1); read(c[0],&x,1);} double sys=(now()-t0)/n;
  pid_t p=fork(); if(!p){ for(int i=0;i<n;i++){ read(a[0],&x,1); write(b[1],&x,1);} _exit(0);}
  t0=now(); for(int i=0;i<n;i++){ write(a[1],&x,1); read(b[0],&x,1);} double rt=(now()-t0)/n; waitpid(p,0,0);
  printf("pipe write+read %.0f ns; round trip %.0f ns; per switch %.0f ns\n", sys*1e9, rt*1e9, (rt-2*sys)/2*1e9);
  return 0;}
