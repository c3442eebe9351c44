// The processes of one job. Under `mpirun -np N crosscoder ...` (a build with CROSSCODER_MPI) there
// are N ranks; otherwise, and in a build without MPI, one rank of one and every call below is
// trivial, so callers need no #ifdef. Only the main thread calls these (MPI_THREAD_FUNNELED).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cc::dist {

// MPI_Init when the process was started by an MPI launcher (its environment says so); a plain run
// never initialises MPI, so it needs no launcher and pays nothing. Also gives the thread pool its
// share of this machine's cores (all cores divided among the ranks on it).
void init(int* argc, char*** argv);
void finalize();  // MPI_Finalize when init started MPI

int rank();
int size();
inline bool root() { return rank() == 0; }
bool built_with_mpi();
// Bytes this rank has put into communication so far: what it passes in to each call (a send's
// message, a broadcast root's buffer, its part of a gather, its vector of an allreduce), once per
// call, not per receiver nor per hop of MPI's algorithms. For measuring traffic against a model.
uint64_t payload_bytes();

void barrier();
// Rank 0's bytes on every rank.
void broadcast(std::string& bytes);
// Each rank's bytes, on rank 0 in rank order; the other ranks get an empty list.
std::vector<std::string> gather(const std::string& mine);
// Each rank's bytes, on every rank, in rank order.
std::vector<std::string> allgather(const std::string& mine);
// `root`'s bytes [data, data + bytes) on every rank.
void broadcast(void* data, size_t bytes, int root);
// Element-wise sums over the ranks, on every rank.
void allreduce_sum(double* x, int64_t n);
void allreduce_sum(float* x, int64_t n);
void allreduce_sum(int64_t* x, int64_t n);
double allreduce_min(double x);
// Point to point, for pipelines: a send returns once `data` may be reused, a receive once it holds
// the message. Messages over 2 GiB go in pieces.
void send(int to, const void* data, size_t bytes);
void recv(int from, void* data, size_t bytes);
// Whether any rank passed true.
bool any(bool mine);

// Independent units of work [0, n) dealt to the ranks in rounds: in each round rank r computes unit
// round · size() + r, and rank 0 receives the round's results and passes them to consume in unit
// order before the next round begins (so it can write as it goes, and a killed job keeps every
// round consumed). consume runs on rank 0 only. With one rank: compute(i), consume(i) for each i.
// A unit's result is computed by one rank alone, so it is the one process's result whenever
// compute(i) depends on i alone.
void deal_units(int64_t n, const std::function<std::string(int64_t)>& compute,
                const std::function<void(int64_t, std::string&&)>& consume);

// fn on rank 0 as a job of one (rank() 0, size() 1: whatever it calls runs as one process would)
// while the other ranks wait for it without spinning a core (a sleeping poll, not MPI's busy
// wait), all leaving together. For the steps of a pipeline that do not split their work; an error
// in fn still ends every rank through abort_job.
void root_alone(const std::function<void()>& fn);

// Ends every rank of the job after printing "error: rank R of N: message" (one line); with one rank,
// only this process ends. Used by main for errors so that one failing rank never leaves the others
// waiting in a collective.
[[noreturn]] void abort_job(const std::string& message, int code);

}  // namespace cc::dist
