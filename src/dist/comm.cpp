// MPI behind dist/comm.hpp, or one rank of one when built without it.
#include "dist/comm.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "core/parallel.hpp"

#ifdef CROSSCODER_MPI
#include <mpi.h>
#endif

namespace cc::dist {

namespace {
int g_rank = 0, g_size = 1;
uint64_t g_contributed = 0;  // payload_bytes()
#ifdef CROSSCODER_MPI
int g_world_size = 1;  // g_size but inside root_alone, where g_size is 1
bool g_started = false;
#endif

// OpenMPI's, then PMI's (MPICH, Slurm), then PMIx's variables: set by the launcher for each rank.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

#ifdef CROSSCODER_MPI
int checked_count(size_t n) {
  if (n > size_t(INT_MAX)) throw std::runtime_error("MPI message of " + std::to_string(n) + " bytes exceeds 2 GiB");
  return int(n);
}
#endif
}  // namespace

bool built_with_mpi() {
#ifdef CROSSCODER_MPI
  return true;
#else
  return false;
#endif
}

int rank() { return g_rank; }
uint64_t payload_bytes() { return g_contributed; }
int size() { return g_size; }

#ifdef CROSSCODER_MPI

void init(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_world_size = g_size;
  // Ranks on one machine share its cores: each gets its share for our pool and OpenBLAS.
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int local_size = 1;
  MPI_Comm_size(local, &local_size);
  MPI_Comm_free(&local);
  set_thread_share(local_size);
}

void finalize() {
  if (g_started) MPI_Finalize();
  g_started = false;
}

void barrier() {
  if (g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void broadcast(std::string& bytes) {
  if (g_size == 1) return;
  unsigned long long n = bytes.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  bytes.resize(size_t(n));
  MPI_Bcast(bytes.data(), checked_count(size_t(n)), MPI_BYTE, 0, MPI_COMM_WORLD);
  if (g_rank == 0) g_contributed += n;
}

std::vector<std::string> gather(const std::string& mine) {
  if (g_size == 1) return {mine};
  const int n = checked_count(mine.size());
  std::vector<int> counts(static_cast<size_t>(g_size)), displs(static_cast<size_t>(g_size));
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (g_rank == 0) {
    size_t total = 0;
    for (int r = 0; r < g_size; ++r) {
      displs[size_t(r)] = checked_count(total);
      total += size_t(counts[size_t(r)]);
    }
    all.resize(size_t(checked_count(total)));
  }
  MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, 0, MPI_COMM_WORLD);
  if (g_rank != 0) g_contributed += mine.size();
  std::vector<std::string> out;
  if (g_rank == 0)
    for (int r = 0; r < g_size; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(counts[size_t(r)])));
  return out;
}

std::vector<std::string> allgather(const std::string& mine) {
  if (g_size == 1) return {mine};
  const int n = checked_count(mine.size());
  std::vector<int> counts(static_cast<size_t>(g_size)), displs(static_cast<size_t>(g_size));
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  size_t total = 0;
  for (int r = 0; r < g_size; ++r) {
    displs[size_t(r)] = checked_count(total);
    total += size_t(counts[size_t(r)]);
  }
  std::string all(size_t(checked_count(total)), '\0');
  MPI_Allgatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD);
  g_contributed += mine.size();
  std::vector<std::string> out;
  for (int r = 0; r < g_size; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(counts[size_t(r)])));
  return out;
}

namespace {
constexpr size_t kPiece = size_t(1) << 30;
}

void broadcast(void* data, size_t bytes, int root) {
  if (g_size == 1) return;
  if (g_rank == root) g_contributed += bytes;
  for (size_t at = 0; at < bytes; at += kPiece)
    MPI_Bcast(static_cast<char*>(data) + at, int(std::min(kPiece, bytes - at)), MPI_BYTE, root, MPI_COMM_WORLD);
}

void send(int to, const void* data, size_t bytes) {
  g_contributed += bytes;
  for (size_t at = 0; at < bytes; at += kPiece)
    MPI_Send(static_cast<const char*>(data) + at, int(std::min(kPiece, bytes - at)), MPI_BYTE, to, 0, MPI_COMM_WORLD);
}

void recv(int from, void* data, size_t bytes) {
  for (size_t at = 0; at < bytes; at += kPiece)
    MPI_Recv(static_cast<char*>(data) + at, int(std::min(kPiece, bytes - at)), MPI_BYTE, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

void allreduce_sum(int64_t* x, int64_t n) {
  if (g_size > 1) g_contributed += size_t(n) * sizeof(int64_t);
  if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, checked_count(size_t(n)), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}

double allreduce_min(double x) {
  if (g_size > 1) g_contributed += sizeof x;
  if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  return x;
}

void allreduce_sum(double* x, int64_t n) {
  if (g_size > 1) g_contributed += size_t(n) * sizeof(double);
  if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, checked_count(size_t(n)), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void allreduce_sum(float* x, int64_t n) {
  if (g_size > 1) g_contributed += size_t(n) * sizeof(float);
  if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, checked_count(size_t(n)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

bool any(bool mine) {
  if (g_size == 1) return mine;
  int v = mine ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return v != 0;
}

void root_alone(const std::function<void()>& fn) {
  if (g_world_size == 1) return fn();
  if (g_rank == 0) {
    g_size = 1;
    fn();  // an exception here ends in abort_job, which ends the waiting ranks too
    g_size = g_world_size;
  }
  MPI_Request done;
  MPI_Ibarrier(MPI_COMM_WORLD, &done);
  for (int finished = 0;;) {
    MPI_Test(&done, &finished, MPI_STATUS_IGNORE);
    if (finished) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void abort_job(const std::string& message, int code) {
  if (g_world_size > 1) {
    std::fprintf(stderr, "error: rank %d of %d: %s\n", g_rank, g_world_size, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(code);
}

#else  // one rank of one

void init(int*, char***) {
  // N copies of a whole job would write the same files: refuse instead.
  if (!launched_by_mpi()) return;
  std::fprintf(stderr, "error: started by an MPI launcher, but this build has no MPI (install libopenmpi-dev and "
                       "configure with -DCROSSCODER_MPI=ON)\n");
  std::exit(1);
}
void finalize() {}
void barrier() {}
void broadcast(std::string&) {}
std::vector<std::string> gather(const std::string& mine) { return {mine}; }
std::vector<std::string> allgather(const std::string& mine) { return {mine}; }
void broadcast(void*, size_t, int) {}
void allreduce_sum(double*, int64_t) {}
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(int64_t*, int64_t) {}
double allreduce_min(double x) { return x; }
// One rank has no one to talk to: a pipeline never calls these with one rank.
void send(int, const void*, size_t) { throw std::logic_error("dist::send with one rank"); }
void recv(int, void*, size_t) { throw std::logic_error("dist::recv with one rank"); }
bool any(bool mine) { return mine; }
void root_alone(const std::function<void()>& fn) { fn(); }
void abort_job(const std::string& message, int code) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(code);
}

#endif

void deal_units(int64_t n, const std::function<std::string(int64_t)>& compute,
                const std::function<void(int64_t, std::string&&)>& consume) {
  const int64_t ranks = size();
  for (int64_t first = 0; first < n; first += ranks) {
    const int64_t mine = first + rank();
    std::vector<std::string> results = gather(mine < n ? compute(mine) : std::string());
    if (!root()) continue;
    for (int64_t i = first; i < std::min(n, first + ranks); ++i) consume(i, std::move(results[size_t(i - first)]));
  }
}

}  // namespace cc::dist
