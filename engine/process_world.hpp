// Process mode: one rank per process, started by mpirun, mpiexec or srun. The launcher layer
// (kernels/mpi) installs a ProcessWorld at start when it finds itself launched that way; without
// one (the default, and every build without MPI) ranks are threads of this process.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/communicator.hpp"

namespace llmt {

struct HostRanks {
  std::string host;
  std::vector<int> ranks;  // the processes' ranks on that host
  std::map<std::string, std::string> environment;  // as its lowest rank saw it: CPU, memory, OS, device
};

// What the results file records about the launch (absent in thread mode).
struct LaunchInfo {
  std::string launcher;  // "mpirun (Open MPI v4.1.4)", "srun (Slurm)", ...
  int world_size = 0;
  std::vector<HostRanks> hosts;
};

class ProcessWorld {
 public:
  virtual ~ProcessWorld() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  // among the processes on this host (picks the GPU)
  virtual LaunchInfo launch() const = 0;

  // Collective over every process: waits for all of them (with `timeout_s` where this process
  // took part in the last configuration, so that a lost process ends the wait; 0: forever), then
  // returns a communicator over the first `ranks` processes, with that collective timeout, or
  // nullptr on the processes that do not take part.
  virtual std::unique_ptr<Communicator> join(int ranks, double timeout_s) = 0;
  // The processes of the last join send `mine` to rank 0. On rank 0: every one's message in rank
  // order, nullopt where none came within `timeout_s`; elsewhere: empty.
  virtual std::vector<std::optional<std::string>> gather(const std::string& mine, int ranks, double timeout_s) = 0;
  // Collective over every process: rank 0's `text` everywhere. A process that took part in the
  // last configuration waits at most wait_limit() seconds for rank 0 (0: forever), then throws
  // CollectiveTimeout; one that did not waits as long as rank 0's configuration runs.
  virtual std::string broadcast(const std::string& text) = 0;
  // Ends every process of the job with `status` (the sweep cannot go on without a lost process).
  [[noreturn]] virtual void abort_job(int status) = 0;

  // Set once a process is found lost (it sent nothing, or never arrived): the sweep stops.
  void mark_lost(const std::string& why) {
    if (lost_.empty()) lost_ = why;
  }
  const std::string& lost() const { return lost_; }

  // How long a process waits for the others outside a configuration's collectives (broadcasts
  // of rank 0's decisions): --collective-timeout; 0 waits forever.
  void set_wait_limit(double seconds) { wait_limit_s_ = seconds; }
  double wait_limit() const { return wait_limit_s_; }

 private:
  std::string lost_;
  double wait_limit_s_ = 0;
};

// The process's world; nullptr in thread mode.
ProcessWorld* process_world();
void set_process_world(std::unique_ptr<ProcessWorld> world);
// The device index this process's backend takes: 0 in thread mode; in process mode its local
// rank modulo the devices it can see, so that a launcher giving each process one GPU
// (CUDA_VISIBLE_DEVICES) and one that shows every process all of them both map rank to GPU.
int process_device(const std::string& backend);
// Whether this process reports (prints, writes results): rank 0, or any process in thread mode.
bool is_reporting_process();

}  // namespace llmt
