/*
 * fsync_probe: synced 128-byte writes per second on this disk, four ways: appending
 * (the file grows with every write), into a sparse extension (ftruncate ahead), into
 * fallocate'd space, and over written zeros. What LOG_RESERVE_BYTES (src/fs/mod.rs)
 * is based on.
 *
 *   cc -O2 -o /tmp/fsync_probe scripts/fsync_probe.c
 *   for m in append sparse falloc zeroed; do /tmp/fsync_probe $m 3000 [DIR]; done
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  if(argc<3){fprintf(stderr,"usage: fsync_probe append|sparse|falloc|keepsize|zeroed N [DIR]\n");return 2;}
  const char*mode=argv[1]; int n=atoi(argv[2]);
  char path[4096]; snprintf(path,sizeof path,"%s/fsync_probe.dat",argc>3?argv[3]:"."); unlink(path);
  int fd=open(path,O_CREAT|O_RDWR,0644);
  char buf[128]; memset(buf,'x',sizeof buf);
  if(!strcmp(mode,"zeroed")){ char z[1<<16]={0}; for(int i=0;i<(n*128)/(1<<16)+1;i++) write(fd,z,sizeof z); fsync(fd); lseek(fd,0,SEEK_SET);}
  if(!strcmp(mode,"falloc")){ fallocate(fd,0,0,(off_t)n*128+4096); fsync(fd);}
  if(!strcmp(mode,"sparse")){ ftruncate(fd,(off_t)n*128+4096); fsync(fd);}
  if(!strcmp(mode,"keepsize")){ fallocate(fd,FALLOC_FL_KEEP_SIZE,0,(off_t)n*128+4096); fsync(fd);}
  double t=now();
  for(int i=0;i<n;i++){ if(pwrite(fd,buf,sizeof buf,(off_t)i*128)!=128) return 1; fdatasync(fd);}
  double e=now()-t; printf("%s: %.0f fdatasync/s\n",mode,n/e); close(fd); unlink(path); return 0;}
