// LD_PRELOAD shim that makes the disk "fill up": once ENOSPC_AFTER bytes have gone to regular
// files, write() and writev() write what still fits and then fail with ENOSPC, as a full
// filesystem does. Used by the full-disk tests, so the product is tested unmodified.
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace {

std::atomic<long long> budget{-1};

long long take(int fd, long long want) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return want;  // pipes, terminals: untouched
  long long b = budget.load();
  if (b < 0) {
    const char* e = std::getenv("ENOSPC_AFTER");
    budget = e ? std::atoll(e) : LLONG_MAX;
    b = budget.load();
  }
  const long long got = want < b ? want : b;
  budget -= got;
  return got;
}

ssize_t real_write(int fd, const void* buf, size_t n) {
  static auto real = reinterpret_cast<ssize_t (*)(int, const void*, size_t)>(dlsym(RTLD_NEXT, "write"));
  return real(fd, buf, n);
}

}  // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
  const long long ok = take(fd, (long long)n);
  if (n > 0 && ok == 0) {
    errno = ENOSPC;
    return -1;
  }
  return real_write(fd, buf, size_t(ok));
}

extern "C" ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  static auto real = reinterpret_cast<ssize_t (*)(int, const struct iovec*, int)>(dlsym(RTLD_NEXT, "writev"));
  long long total = 0;
  for (int i = 0; i < cnt; ++i) total += (long long)iov[i].iov_len;
  const long long ok = take(fd, total);
  if (total > 0 && ok == 0) {
    errno = ENOSPC;
    return -1;
  }
  if (ok == total) return real(fd, iov, cnt);
  // Only part fits: a short write of the leading part of the first buffer (the budget is spent).
  return real_write(fd, iov[0].iov_base, size_t(ok < (long long)iov[0].iov_len ? ok : (long long)iov[0].iov_len));
}
