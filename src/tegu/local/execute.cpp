// The local executors. A Run holds the per-computation state: the dependency index, remaining
// dependency and dependent counts, and the results. Tasks become ready when their last
// dependency finishes; a result is dropped when its last dependent has run (outputs are kept).
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "tegu/config.hpp"
#include "tegu/local.hpp"
#include "tegu/local/thread_lease.hpp"
#include "tegu/local/thread_pool.hpp"
#include "tegu/optimize.hpp"
#include "tegu/task_error.hpp"

namespace tegu {

Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const StatusError& e) {
    return e.status();
  } catch (const std::exception& e) {
    return Status(StatusCode::kTaskError, e.what(),
                  std::make_shared<ExceptionDetail>(std::current_exception(), e.what()));
  } catch (...) {
    return Status(StatusCode::kTaskError, "unknown exception",
                  std::make_shared<ExceptionDetail>(std::current_exception(), "unknown exception"));
  }
}

Status AddTaskContext(const Status& status, const std::string& key) {
  return status.WithContext("task '" + key + "' failed");
}

void ThrowStatus(const Status& status) {
  if (auto* detail = dynamic_cast<const ExceptionDetail*>(status.detail().get())) {
    std::rethrow_exception(detail->exception());
  }
  throw StatusError(status);
}

Result<SchedulerKind> ParseSchedulerName(const std::string& name) {
  if (name == "sync" || name == "synchronous" || name == "single-threaded") {
    return SchedulerKind::kSync;
  }
  if (name == "threads" || name == "threading" || name == "threaded") {
    return SchedulerKind::kThreads;
  }
  return Status::Invalid("unknown scheduler '" + name +
                         "': expected 'sync', 'synchronous', 'single-threaded' or 'threads'");
}

Result<ComputeOptions> ComputeOptions::FromConfig() {
  ComputeOptions options;
  std::string scheduler = config::GetString("scheduler", "threads");
  TEGU_ASSIGN_OR_RAISE(options.scheduler, ParseSchedulerName(scheduler));
  int64_t workers = config::GetInt("num-workers", 0);
  if (workers < 0) return Status::Invalid("config num-workers must be positive, got " + std::to_string(workers));
  options.num_workers = static_cast<int>(workers);
  options.optimize = config::GetBool("optimization.fuse.active", true);
  return options;
}

int DefaultThreadCount() { return internal::ThreadPool::Shared(0).num_threads(); }

namespace {

using internal::ThreadPool;
using internal::WorkItem;

class Run final : public internal::PoolJob {
 public:
  // `order` holds positions into index.nodes (see OrderIndex).
  Run(const Graph& graph, DependencyIndex index, std::span<const uint32_t> order,
      std::span<const KeyId> outputs, std::shared_ptr<Progress> progress)
      : graph_(graph),
        index_(std::move(index)),
        priority_(index_.size()),
        pending_deps_(std::make_unique<std::atomic<uint32_t>[]>(index_.size())),
        pending_dependents_(std::make_unique<std::atomic<uint32_t>[]>(index_.size())),
        results_(index_.size()),
        is_output_(index_.size(), 0),
        remaining_(index_.size()),
        progress_(std::move(progress)) {
    for (uint32_t rank = 0; rank < order.size(); ++rank) priority_[order[rank]] = rank;
    for (uint32_t i = 0; i < index_.size(); ++i) {
      pending_deps_[i].store(static_cast<uint32_t>(index_.DependenciesOf(i).size()),
                             std::memory_order_relaxed);
      pending_dependents_[i].store(static_cast<uint32_t>(index_.DependentsOf(i).size()),
                                   std::memory_order_relaxed);
    }
    for (KeyId out : outputs) is_output_[index_.position[out]] = 1;
    if (progress_) progress_->total.store(index_.size());
  }

  ~Run() override {
    if (progress_) progress_->finished.store(true);
  }

  Status RunSync(std::span<const uint32_t> order) {
    internal::LeaseLevel level;
    for (uint32_t i : order) {
      Status st = Evaluate(i);
      if (!st.ok()) return st;
      Finish(i);
    }
    return Status::OK();
  }

  Status RunThreaded(ThreadPool& pool) {
    std::vector<uint32_t> ready;
    for (uint32_t i = 0; i < index_.size(); ++i) {
      if (index_.DependenciesOf(i).empty()) ready.push_back(i);
    }
    if (ready.empty()) return Status::OK();  // empty graph (a cycle was caught by Order)
    pool_ = &pool;
    Schedule(&ready);
    auto done = [this] { return finished_.load(std::memory_order_acquire); };
    if (pool.IsWorkerThread()) {
      // Nested compute from inside a task: help run this computation instead of blocking.
      pool.HelpUntil(this, done, done_mu_, done_cv_);
      // HelpUntil can see finished_ while the finishing thread is still notifying done_cv_
      // under done_mu_: wait until it has left, or destroying this Run would pull the mutex
      // and the condition variable out from under it.
      std::lock_guard<std::mutex> finisher_left(done_mu_);
    } else {
      std::unique_lock<std::mutex> lock(done_mu_);
      done_cv_.wait(lock, done);
    }
    std::lock_guard<std::mutex> lock(error_mu_);
    return error_;
  }

  void RunItem(uint32_t i) override {
    if (!failed_.load(std::memory_order_acquire)) {
      Status st = Evaluate(i);
      if (st.ok()) {
        // Reused per thread: allocating a vector per task shows up at a microsecond per task.
        thread_local std::vector<uint32_t> ready;
        ready.clear();
        Finish(i, &ready);
        if (!ready.empty()) Schedule(&ready);
        remaining_.fetch_sub(1, std::memory_order_acq_rel);
      } else {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (error_.ok()) error_ = st;
        failed_.store(true, std::memory_order_release);
      }
    }
    if (inflight_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        (failed_.load(std::memory_order_acquire) ||
         remaining_.load(std::memory_order_acquire) == 0)) {
      std::lock_guard<std::mutex> lock(done_mu_);
      finished_.store(true, std::memory_order_release);
      done_cv_.notify_all();
    }
  }

  // Moves the outputs out, so that the run frees nothing a front end would have to lock for.
  std::vector<Value> TakeOutputs(std::span<const KeyId> outputs) {
    std::vector<Value> values;
    values.reserve(outputs.size());
    std::vector<uint32_t> taken_at(outputs.empty() ? 0 : index_.size(), UINT32_MAX);
    for (size_t j = 0; j < outputs.size(); ++j) {
      uint32_t pos = index_.position[outputs[j]];
      if (taken_at[pos] != UINT32_MAX) {
        values.push_back(values[taken_at[pos]]);  // the same key requested twice
      } else {
        taken_at[pos] = static_cast<uint32_t>(j);
        values.push_back(std::move(results_[pos]));
      }
    }
    return values;
  }

 private:
  class Inputs final : public TaskInputs {
   public:
    explicit Inputs(const Run& run) : run_(run) {}
    const Value& Get(KeyId key) const override {
      return run_.results_[run_.index_.position[key]];
    }

   private:
    const Run& run_;
  };

  // Inputs of a task with a prelude: keys computed by earlier steps shadow the run's results.
  class StepInputs final : public TaskInputs {
   public:
    explicit StepInputs(const Run& run) : run_(run) {}
    const Value& Get(KeyId key) const override {
      auto it = locals_.find(key);
      if (it != locals_.end()) return it->second;
      return run_.results_[run_.index_.position[key]];
    }
    std::unordered_map<KeyId, Value> locals_;

   private:
    const Run& run_;
  };

  Status CallSpec(const TaskSpec& spec, const TaskInputs& inputs, KeyId key, Value* out) {
    // Native code never needs the Python GIL; give it back before running it.
    if (spec.fn() == nullptr || !spec.fn()->uses_thread_lease()) internal::ReleaseThreadLease();
    Result<Value> result = [&]() -> Result<Value> {
      try {
        return spec.Call(inputs);
      } catch (...) {
        return StatusFromCurrentException();
      }
    }();
    if (!result.ok()) return AddTaskContext(result.status(), graph_.key(key).ToString());
    *out = result.MoveValueUnsafe();
    return Status::OK();
  }

  Status Evaluate(uint32_t i) {
    const KeyId key = index_.nodes[i];
    const Task& task = graph_.task(key);
    if (task.prelude.empty()) {
      return CallSpec(task.spec, Inputs(*this), key, &results_[i]);
    }
    // Last step using each local, so that fused chains do not keep every intermediate alive.
    StepInputs inputs(*this);
    std::unordered_map<KeyId, size_t> last_use;
    for (size_t s = 0; s < task.prelude.size(); ++s) {
      task.prelude[s].spec.ForEachRef([&](KeyId ref) { last_use[ref] = s; });
    }
    for (size_t s = 0; s < task.prelude.size(); ++s) {
      const TaskStep& step = task.prelude[s];
      Value value;
      TEGU_RETURN_NOT_OK(CallSpec(step.spec, inputs, step.key, &value));
      inputs.locals_[step.key] = std::move(value);
      step.spec.ForEachRef([&](KeyId ref) {
        auto it = last_use.find(ref);
        if (it != last_use.end() && it->second == s) inputs.locals_.erase(ref);
      });
    }
    return CallSpec(task.spec, inputs, key, &results_[i]);
  }

  // Releases inputs whose last dependent this was; collects dependents that became ready.
  void Finish(uint32_t i, std::vector<uint32_t>* ready = nullptr) {
    if (progress_) progress_->done.fetch_add(1, std::memory_order_relaxed);
    for (uint32_t d : index_.DependenciesOf(i)) {
      if (pending_dependents_[d].fetch_sub(1, std::memory_order_acq_rel) == 1 && !is_output_[d]) {
        results_[d] = Value();
      }
    }
    if (ready == nullptr) return;
    for (uint32_t c : index_.DependentsOf(i)) {
      if (pending_deps_[c].fetch_sub(1, std::memory_order_acq_rel) == 1) ready->push_back(c);
    }
  }

  // Queues ready tasks so that the most urgent (lowest priority rank) runs first.
  void Schedule(std::vector<uint32_t>* ready) {
    inflight_.fetch_add(ready->size(), std::memory_order_acq_rel);
    if (ready->size() == 1) {
      WorkItem item{this, (*ready)[0]};
      pool_->Push({&item, 1});
      return;
    }
    std::sort(ready->begin(), ready->end(),
              [this](uint32_t a, uint32_t b) { return priority_[a] > priority_[b]; });
    std::vector<WorkItem> items;
    items.reserve(ready->size());
    for (uint32_t i : *ready) items.push_back(WorkItem{this, i});
    pool_->Push(items);
  }

  const Graph& graph_;
  const DependencyIndex index_;
  std::vector<uint32_t> priority_;
  std::unique_ptr<std::atomic<uint32_t>[]> pending_deps_;
  std::unique_ptr<std::atomic<uint32_t>[]> pending_dependents_;
  std::vector<Value> results_;
  std::vector<uint8_t> is_output_;
  std::atomic<size_t> remaining_;
  std::atomic<size_t> inflight_{0};
  std::atomic<bool> failed_{false};
  std::atomic<bool> finished_{false};
  std::mutex error_mu_;
  Status error_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  ThreadPool* pool_ = nullptr;
  std::shared_ptr<Progress> progress_;
};

}  // namespace

namespace {
Result<std::vector<Value>> ExecuteIndexed(const Graph& graph, DependencyIndex index,
                                          std::span<const uint32_t> order,
                                          std::span<const KeyId> outputs,
                                          const ComputeOptions& options) {
  Run run(graph, std::move(index), order, outputs, options.progress);
  if (options.scheduler == SchedulerKind::kSync) {
    TEGU_RETURN_NOT_OK(run.RunSync(order));
  } else {
    TEGU_RETURN_NOT_OK(run.RunThreaded(ThreadPool::Shared(options.num_workers)));
  }
  return run.TakeOutputs(outputs);
}
}  // namespace

Result<std::vector<Value>> Execute(const Graph& graph, std::span<const KeyId> outputs,
                                   std::span<const KeyId> order, const ComputeOptions& options) {
  TEGU_ASSIGN_OR_RAISE(DependencyIndex index, BuildDependencyIndex(graph, outputs));
  if (order.size() != index.size()) {
    return Status::Invalid("the order covers " + std::to_string(order.size()) +
                           " tasks but the computation needs " + std::to_string(index.size()));
  }
  std::vector<uint32_t> positions;
  positions.reserve(order.size());
  for (KeyId id : order) {
    if (id >= index.position.size() || index.position[id] == UINT32_MAX) {
      return Status::Invalid("the order holds a task the computation does not need");
    }
    positions.push_back(index.position[id]);
  }
  return ExecuteIndexed(graph, std::move(index), positions, outputs, options);
}

Result<std::vector<Value>> ComputeInPlace(Graph* graph, std::span<const KeyId> outputs,
                                          const ComputeOptions& options) {
  // One dependency index serves culling, fusion, ordering and execution.
  TEGU_ASSIGN_OR_RAISE(DependencyIndex index, Optimize(graph, outputs, options.optimize));
  TEGU_ASSIGN_OR_RAISE(std::vector<uint32_t> order, OrderIndex(*graph, index, outputs));
  return ExecuteIndexed(*graph, std::move(index), order, outputs, options);
}

Result<std::vector<Value>> Compute(Graph graph, std::span<const KeyId> outputs,
                                   const ComputeOptions& options) {
  return ComputeInPlace(&graph, outputs, options);
}

}  // namespace tegu
