// A small fixed thread pool for our own loops. Idle workers spin for at most 50 µs (pause, no
// system call), then block on a condition variable, so they catch back-to-back calls without a
// futex each but do not hold cores that OpenBLAS's threads want, as OpenMP's longer spin-waits
// would on a 2-core machine.
#pragma once
#include <cstdint>
#include <functional>

namespace cc {

// Sets our pool size and OpenBLAS's thread count together. n <= 0 means this process's share of
// the hardware threads: all of them, or 1/k of them when k processes share the machine, and never
// more than the CPUs it may run on (its affinity mask: taskset, a cpuset, mpirun's binding).
void set_num_threads(int n);
// k processes (MPI ranks) share this machine's cores; call before the first set_num_threads.
void set_thread_share(int k);
int num_threads();
// The CPUs this process may run on (its affinity mask), however many processes share them.
int allowed_cpus();

// Calls fn(begin, end) on disjoint chunks covering [0, n); blocks until all are done.
// Chunks are at least `grain` long. Exceptions thrown by fn are rethrown here.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// parallel_for whose chunks may call BLAS: OpenBLAS runs single-threaded in each chunk for the
// duration. For many small products (attention per head), where OpenBLAS's own threading costs
// more than the work: it wakes its worker per call and the caller waits in sched_yield.
void parallel_for_blas(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
// fn with OpenBLAS single-threaded, for work made of many small BLAS calls (LAPACK's eigensolver
// at n = 256), whose thread hand-offs cost more than they save.
void with_serial_blas(const std::function<void()>& fn);

}  // namespace cc
