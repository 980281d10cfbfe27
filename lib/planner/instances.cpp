// The operator-instance graph of a pipeline spec, the minimum memory of a device, the serial
// fall-back schedule, and conversions between per-device instance orders and PipelineOrders.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "pipeline/pipeline_internal.hpp"
#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {
constexpr int kSlotF = 0, kSlotB = 1, kSlotW = 2;

bool split_backward(const StageSpec& st) { return st.weight_grad > 0; }
}  // namespace

InstanceGraph::InstanceGraph(const PipelineSpec& spec)
    : routes_(spec.num_routes()), mbs_(spec.micro_batches_per_route()), stages_(spec.num_stages()) {
  id_of_.assign(static_cast<std::size_t>(routes_) * mbs_ * stages_ * 3, -1);
  by_device.resize(static_cast<std::size_t>(spec.num_devices));
  const auto slot = [&](int r, int m, int s, int k) -> int& {
    return id_of_[((static_cast<std::size_t>(r) * mbs_ + m) * stages_ + s) * 3 + k];
  };
  const auto add = [&](Work work, int r, int m, int s, int k) {
    Instance inst;
    inst.item = WorkItem{work, r, m, s};
    inst.device = spec.routes[static_cast<std::size_t>(r)][static_cast<std::size_t>(s)];
    inst.duration = work_time(spec.stages[static_cast<std::size_t>(s)], work);
    inst.alloc = memory_alloc(spec, inst.item);
    inst.free = memory_free(spec, inst.item);
    slot(r, m, s, k) = static_cast<int>(ops.size());
    by_device[static_cast<std::size_t>(inst.device)].push_back(static_cast<int>(ops.size()));
    ops.push_back(inst);
  };
  for (int r = 0; r < routes_; ++r)
    for (int m = 0; m < mbs_; ++m)
      for (int s = 0; s < stages_; ++s) {
        add(Work::kForward, r, m, s, kSlotF);
        if (split_backward(spec.stages[static_cast<std::size_t>(s)])) {
          add(Work::kInputGrad, r, m, s, kSlotB);
          add(Work::kWeightGrad, r, m, s, kSlotW);
        } else {
          add(Work::kBackward, r, m, s, kSlotB);
        }
      }
  succ.resize(ops.size());
  pred.resize(ops.size());
  const auto arc = [&](int a, int b, double delay) {
    succ[static_cast<std::size_t>(a)].push_back({b, delay});
    pred[static_cast<std::size_t>(b)].push_back({a, delay});
  };
  for (int r = 0; r < routes_; ++r)
    for (int m = 0; m < mbs_; ++m)
      for (int s = 0; s < stages_; ++s) {
        if (s > 0) arc(slot(r, m, s - 1, kSlotF), slot(r, m, s, kSlotF), boundary_delay(spec, r, s - 1));
        if (s == stages_ - 1) arc(slot(r, m, s, kSlotF), slot(r, m, s, kSlotB), 0);
        if (s < stages_ - 1) arc(slot(r, m, s + 1, kSlotB), slot(r, m, s, kSlotB), boundary_delay(spec, r, s));
        if (slot(r, m, s, kSlotW) >= 0) arc(slot(r, m, s, kSlotB), slot(r, m, s, kSlotW), 0);
      }

  cap.resize(static_cast<std::size_t>(spec.num_devices));
  params.resize(static_cast<std::size_t>(spec.num_devices));
  for (int d = 0; d < spec.num_devices; ++d) {
    cap[static_cast<std::size_t>(d)] = spec.cap(d);
    params[static_cast<std::size_t>(d)] = spec.param_memory(d);
  }
  finish();
}

InstanceGraph::InstanceGraph(const UnitDag& dag)
    : cap(dag.cap), params(dag.params), routes_(1), mbs_(dag.micro_batches), stages_(static_cast<int>(dag.units.size())) {
  id_of_.assign(static_cast<std::size_t>(mbs_) * stages_ * 3, -1);
  by_device.resize(static_cast<std::size_t>(dag.num_devices));
  cap.resize(by_device.size(), std::numeric_limits<double>::infinity());
  params.resize(by_device.size(), 0);
  const auto slot = [&](int m, int u, int k) -> int& {
    return id_of_[(static_cast<std::size_t>(m) * stages_ + u) * 3 + k];
  };
  const auto add = [&](Work work, int m, int u, int k, double duration, double alloc, double free) {
    Instance inst;
    inst.item = WorkItem{work, 0, m, u};
    const UnitDag::Unit& unit = dag.units[static_cast<std::size_t>(u)];
    inst.device = work != Work::kForward && unit.backward_device >= 0 ? unit.backward_device : unit.device;
    inst.duration = duration;
    inst.alloc = alloc;
    inst.free = free;
    slot(m, u, k) = static_cast<int>(ops.size());
    by_device[static_cast<std::size_t>(inst.device)].push_back(static_cast<int>(ops.size()));
    ops.push_back(inst);
  };
  for (int m = 0; m < mbs_; ++m)
    for (int u = 0; u < stages_; ++u) {
      const UnitDag::Unit& unit = dag.units[static_cast<std::size_t>(u)];
      add(Work::kForward, m, u, kSlotF, unit.forward, unit.activation, 0);
      if (unit.weight_grad > 0) {
        add(Work::kInputGrad, m, u, kSlotB, unit.input_grad, 0, unit.freed_by_input_grad);
        add(Work::kWeightGrad, m, u, kSlotW, unit.weight_grad, 0, unit.activation - unit.freed_by_input_grad);
      } else {
        add(Work::kBackward, m, u, kSlotB, unit.input_grad, 0, unit.activation);
      }
    }
  succ.resize(ops.size());
  pred.resize(ops.size());
  const auto arc = [&](int a, int b, double delay) {
    succ[static_cast<std::size_t>(a)].push_back({b, delay});
    pred[static_cast<std::size_t>(b)].push_back({a, delay});
  };
  for (int m = 0; m < mbs_; ++m) {
    for (int u = 0; u < stages_; ++u) {
      arc(slot(m, u, kSlotF), slot(m, u, kSlotB), 0);
      if (slot(m, u, kSlotW) >= 0) arc(slot(m, u, kSlotB), slot(m, u, kSlotW), 0);
    }
    for (const UnitDag::Link& l : dag.links) {
      arc(slot(m, l.from, kSlotF), slot(m, l.to, kSlotF), l.forward);
      arc(slot(m, l.to, kSlotB), slot(m, l.from, kSlotB), l.backward);
    }
  }
  finish();
}

void InstanceGraph::finish() {
  // Kahn's algorithm; both constructors build acyclic graphs (chains per micro-batch, or a DAG's
  // forward links and their reverses joined at each unit's F -> b arc).
  std::vector<int> indegree(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) indegree[i] = static_cast<int>(pred[i].size());
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (indegree[i] == 0) topo.push_back(static_cast<int>(i));
  for (std::size_t k = 0; k < topo.size(); ++k)
    for (const Arc& a : succ[static_cast<std::size_t>(topo[k])])
      if (--indegree[static_cast<std::size_t>(a.to)] == 0) topo.push_back(a.to);

  head.assign(ops.size(), 0);
  tail.assign(ops.size(), 0);
  for (int i : topo)
    for (const Arc& a : succ[static_cast<std::size_t>(i)])
      head[static_cast<std::size_t>(a.to)] = std::max(head[static_cast<std::size_t>(a.to)],
                                                      head[static_cast<std::size_t>(i)] +
                                                          ops[static_cast<std::size_t>(i)].duration + a.delay);
  for (auto it = topo.rbegin(); it != topo.rend(); ++it)
    for (const Arc& a : succ[static_cast<std::size_t>(*it)])
      tail[static_cast<std::size_t>(*it)] =
          std::max(tail[static_cast<std::size_t>(*it)],
                   a.delay + ops[static_cast<std::size_t>(a.to)].duration + tail[static_cast<std::size_t>(a.to)]);
  for (std::size_t i = 0; i < ops.size(); ++i)
    critical_path = std::max(critical_path, head[i] + ops[i].duration + tail[i]);
}

int InstanceGraph::find(const WorkItem& item) const {
  if (item.route < 0 || item.route >= routes_ || item.micro_batch < 0 || item.micro_batch >= mbs_ || item.stage < 0 ||
      item.stage >= stages_)
    return -1;
  const int k = item.work == Work::kForward ? kSlotF : item.work == Work::kWeightGrad ? kSlotW : kSlotB;
  return id_of_[((static_cast<std::size_t>(item.route) * mbs_ + item.micro_batch) * stages_ + item.stage) * 3 +
                static_cast<std::size_t>(k)];
}

namespace {

// One device runs one instance at a time: for every set of its instances that cannot start before
// `a` and leave at least `b` of work after them, a + (their total time) + b is a bound. Sets of the
// form {head >= a, tail >= b} are the strongest; scan them with tails sorted once.
double one_machine_bound(const InstanceGraph& graph, std::vector<int> ids, const std::vector<double>& head) {
  double bound = 0;
  if (ids.empty()) return bound;
  std::sort(ids.begin(), ids.end(), [&](int x, int y) {
    return graph.tail[static_cast<std::size_t>(x)] > graph.tail[static_cast<std::size_t>(y)];
  });
  std::vector<double> heads;
  for (int i : ids) heads.push_back(head[static_cast<std::size_t>(i)]);
  std::sort(heads.begin(), heads.end());
  heads.erase(std::unique(heads.begin(), heads.end()), heads.end());
  // Quadratic in the device's instance count; past a few thousand keep the loosest set only.
  if (heads.size() * ids.size() > 20'000'000) heads.resize(1);
  for (double a : heads) {
    double load = 0;
    for (int i : ids) {
      if (head[static_cast<std::size_t>(i)] < a) continue;
      load += graph.ops[static_cast<std::size_t>(i)].duration;
      bound = std::max(bound, a + load + graph.tail[static_cast<std::size_t>(i)]);
    }
  }
  return bound;
}

// One operator instance in a one-machine relaxation: earliest start, duration, work after its end.
struct Job {
  double head, duration, tail;
};

// max over a of a + (total time of the jobs with head >= a) + (their least tail, taken job by job
// in decreasing tail order): the bound of one_machine_bound() on explicit jobs.
double one_machine_jobs(std::vector<Job> jobs) {
  double bound = 0;
  std::sort(jobs.begin(), jobs.end(), [](const Job& x, const Job& y) { return x.tail > y.tail; });
  std::vector<double> heads;
  for (const Job& j : jobs) heads.push_back(j.head);
  std::sort(heads.begin(), heads.end());
  heads.erase(std::unique(heads.begin(), heads.end()), heads.end());
  // O(heads x jobs): the memory-wall bounds call this once per sampled moment, so a large device
  // (a DualPipe of 1,280 micro-batches: 50 s) keeps evenly spaced heads only, at most 2,000,000
  // head x job steps per call. Any subset of the heads gives a valid, if weaker, bound.
  if (const std::size_t work = heads.size() * jobs.size(); work > 2'000'000) {
    const std::size_t step = (work + 1'999'999) / 2'000'000;
    std::vector<double> kept;
    for (std::size_t i = 0; i < heads.size(); i += step) kept.push_back(heads[i]);
    heads = std::move(kept);
  }
  for (double a : heads) {
    double load = 0;
    for (const Job& j : jobs) {
      if (j.head < a) continue;
      load += j.duration;
      bound = std::max(bound, a + load + j.tail);
    }
  }
  return bound;
}

// The least time by which one machine finishes `jobs` (heads only): run them in head order.
double release_order_end(std::vector<Job> jobs) {
  std::sort(jobs.begin(), jobs.end(), [](const Job& x, const Job& y) { return x.head < y.head; });
  double t = 0;
  for (const Job& j : jobs) t = std::max(t, j.head) + j.duration;
  return t;
}

// The first memory wall only, for a stage whose b frees part of the activation and W the rest:
// with room for k activations, nothing freed before e (the earliest end of an instance that frees
// memory there), at most k forwards start before e. Micro-batches are interchangeable in the
// relaxation (same heads and tails), so the other N - k start their forward at e or later, and
// their b and W (which depend on it) shift with it.
double first_wall_bound(const InstanceGraph& graph, int d, int k, int N) {
  const auto& ids = graph.by_device[static_cast<std::size_t>(d)];
  double forward_head = -1, earliest_free = std::numeric_limits<double>::infinity();
  for (int i : ids) {
    const Instance& op = graph.ops[static_cast<std::size_t>(i)];
    if (op.item.work == Work::kForward) forward_head = graph.head[static_cast<std::size_t>(i)];
    if (op.free > 0) earliest_free = std::min(earliest_free, graph.head[static_cast<std::size_t>(i)] + op.duration);
  }
  const double delta = earliest_free - forward_head;
  if (k >= N || forward_head < 0 || !(delta > 0) || !std::isfinite(delta)) return 0;
  std::vector<double> head = graph.head;
  for (int i : ids)
    if (graph.ops[static_cast<std::size_t>(i)].item.micro_batch >= k) head[static_cast<std::size_t>(i)] += delta;
  return one_machine_bound(graph, ids, head);
}

// One chunk (route, stage) of a device as the memory walls see it: micro-batch 0's instances there
// (forward first), each with its longest path from the forward's start (`offset`), and L, the least
// time from a forward's start to the end of the instance that releases its activation (W, or b
// when b frees it all, or B), along the micro-batch's own path. With room for k activations on the
// device, the m-th forward of the chunk (numbered by start) starts no earlier than wall(m).
struct ChunkWalls {
  struct Kind {
    double offset, duration, head, tail;
    bool releases;  // the release waits for this instance's end (W and b before it, b alone, or B)
  };
  std::vector<Kind> kinds;  // forward first
  double lifetime = 0;      // L
  double head_f = 0;
  int micro_batches = 0;
  int k = 1;
  std::vector<double> walls;  // per forward number m, the earliest start of the chunk's m-th forward
  double wall(int m) const { return walls[static_cast<std::size_t>(m)]; }
  // The jobs of every micro-batch; those numbered `from` or later have their forwards at
  // `forward_from` or later. The earlier ones (at their walls) count only while the chunk has at
  // most 2,000 jobs: beyond, one_machine_jobs() would keep a single threshold of its quadratic scan
  // and lose more than they add (a linear PP-8 pipeline of 4,166 micro-batches did).
  void jobs_after(int from, double forward_from, std::vector<Job>& out) const {
    const int first = micro_batches * static_cast<int>(kinds.size()) <= 2000 ? 0 : from;
    for (int m = first; m < micro_batches; ++m) {
      const double f = m >= from ? std::max(forward_from, wall(m)) : wall(m);
      for (const Kind& kd : kinds) out.push_back({std::max(kd.head, f + kd.offset), kd.duration, kd.tail});
    }
  }
  // The forwards of micro-batches 0..forwards-1 and the releasing instances of 0..releases-1, at
  // their earliest (no tails): what must have run before some later moment.
  void jobs_before(int forwards, int releases, std::vector<Job>& out) const {
    for (int m = 0; m < forwards; ++m) out.push_back({wall(m), kinds.front().duration, 0});
    for (int m = 0; m < releases; ++m)
      for (const Kind& kd : kinds)
        if (kd.releases) out.push_back({std::max(kd.head, wall(m) + kd.offset), kd.duration, 0});
  }
};

// Micro-batch 0's instances of chunk (route, stage) (forward first), their longest paths from the
// forward's start, and L, the least time from that start to the end of the instance releasing the
// activation; nothing when the wall argument does not apply (no activation, a b that frees only
// part of it, no path to the release).
struct ChunkRelease {
  std::vector<int> ids;
  std::vector<double> offsets;
  std::vector<char> releases;
  double lifetime = 0;
};

std::optional<ChunkRelease> chunk_release(const PipelineSpec& spec, const InstanceGraph& graph, int route, int stage) {
  const StageSpec& st = spec.stages[static_cast<std::size_t>(stage)];
  if (!(st.activation > 0)) return std::nullopt;
  const bool split = st.weight_grad > 0;
  const double x = st.input_grad_frees;
  const bool b_frees_all = split && x >= st.activation - 1e-12;
  if (split && x > 1e-12 && !b_frees_all) return std::nullopt;
  const int f0 = graph.find(WorkItem{Work::kForward, route, 0, stage});
  if (f0 < 0) return std::nullopt;
  ChunkRelease r;
  r.ids.push_back(f0);
  for (Work w : {Work::kInputGrad, Work::kWeightGrad, Work::kBackward}) {
    const int i = graph.find(WorkItem{w, route, 0, stage});
    if (i >= 0 && i != f0 && std::find(r.ids.begin(), r.ids.end(), i) == r.ids.end() &&
        graph.ops[static_cast<std::size_t>(i)].item.work == w)
      r.ids.push_back(i);
  }
  std::vector<double> dist(graph.ops.size(), -std::numeric_limits<double>::infinity());
  dist[static_cast<std::size_t>(f0)] = 0;
  for (int i : graph.topo) {
    const double di = dist[static_cast<std::size_t>(i)];
    if (!std::isfinite(di)) continue;
    for (const Arc& a : graph.succ[static_cast<std::size_t>(i)])
      dist[static_cast<std::size_t>(a.to)] = std::max(dist[static_cast<std::size_t>(a.to)],
                                                      di + graph.ops[static_cast<std::size_t>(i)].duration + a.delay);
  }
  for (int i : r.ids) {
    const Instance& op = graph.ops[static_cast<std::size_t>(i)];
    const double off = dist[static_cast<std::size_t>(i)];
    if (!std::isfinite(off)) return std::nullopt;
    // The release waits for W (and b before it), b alone when it frees everything, or B.
    const bool releases = op.item.work != Work::kForward && !(b_frees_all && op.item.work == Work::kWeightGrad);
    r.offsets.push_back(off);
    r.releases.push_back(releases ? 1 : 0);
    if (releases) r.lifetime = std::max(r.lifetime, off + op.duration);
  }
  if (!(r.lifetime > 0)) return std::nullopt;
  return r;
}

// How many activations of `activation` fit on device d beside its parameters (0: no cap).
int room(const PipelineSpec& spec, int d, double activation) {
  const double budget = spec.cap(d) - spec.param_memory(d);
  if (!std::isfinite(budget) || !(activation > 0)) return 0;
  return static_cast<int>(std::floor(budget / activation + 1e-9));
}

// The walls of chunk (route, stage) under room for k activations on its device, or nothing when
// the argument does not apply (chunk_release()).
std::optional<ChunkWalls> chunk_walls(const PipelineSpec& spec, const InstanceGraph& graph, int route, int stage,
                                      int k) {
  if (k < 1) return std::nullopt;
  const auto release = chunk_release(spec, graph, route, stage);
  if (!release) return std::nullopt;
  ChunkWalls c;
  c.k = k;
  c.micro_batches = spec.micro_batches_per_route();
  c.lifetime = release->lifetime;
  for (std::size_t x = 0; x < release->ids.size(); ++x) {
    const int i = release->ids[x];
    c.kinds.push_back({release->offsets[x], graph.ops[static_cast<std::size_t>(i)].duration,
                       graph.head[static_cast<std::size_t>(i)], graph.tail[static_cast<std::size_t>(i)],
                       release->releases[x] != 0});
  }
  c.head_f = c.kinds.front().head;
  // The m-th forward of a stage (numbered by start) starts after the m-th forward of the stage
  // before it has ended and the transfer (m + 1 micro-batches must have left that stage, which runs
  // its forwards one at a time, so in start order), after the stage's own (m - 1)-th forward, and,
  // under a cap, after its own wall: the (m - k_s)-th forward's start plus L_s, with k_s the room
  // on that stage's device (a chunk never has more of it than the whole device) and L_s its
  // activation's least lifetime (single_chunk_bound()). A flow shop along the route with the walls
  // of every stage up to this one; the first stage's m-th forward starts at m F or later.
  std::vector<double> flow(static_cast<std::size_t>(c.micro_batches), 0);
  for (int s = 0; s <= stage; ++s) {
    const StageSpec& st = spec.stages[static_cast<std::size_t>(s)];
    const double arrive =
        s > 0 ? spec.stages[static_cast<std::size_t>(s - 1)].forward + boundary_delay(spec, route, s - 1) : 0;
    int k_s = s == stage ? k : 0;
    double lifetime = s == stage ? c.lifetime : 0;
    if (s < stage) {
      k_s = room(spec, spec.routes[static_cast<std::size_t>(route)][static_cast<std::size_t>(s)], st.activation);
      if (k_s >= 1 && k_s < c.micro_batches)
        if (const auto up = chunk_release(spec, graph, route, s)) lifetime = up->lifetime;
    }
    for (std::size_t m = 0; m < flow.size(); ++m) {
      double t = std::max(flow[m] + arrive, m > 0 ? flow[m - 1] + st.forward : 0.0);
      if (k_s >= 1 && lifetime > 0 && m >= static_cast<std::size_t>(k_s))
        t = std::max(t, flow[m - static_cast<std::size_t>(k_s)] + lifetime);
      flow[m] = t;
    }
  }
  c.walls.resize(flow.size());
  for (std::size_t m = 0; m < flow.size(); ++m) c.walls[m] = std::max(c.head_f, flow[m]);
  return c;
}

// The moments T_j at which the bound is taken (every j up to 96 micro-batches, 64 of them beyond:
// the cost is about N^3).
std::vector<int> sampled_moments(int count) {
  std::vector<int> js;
  const int step = count <= 96 ? 1 : (count + 63) / 64;
  for (int j = 1; j < count; j += step) js.push_back(j);
  if (js.empty() || js.back() != count - 1) js.push_back(count - 1);
  return js;
}

// The memory walls of one chunk of a device under a cap (docs/planner.md, "Lower bound").
// Room for k activations of size a: at the start of a forward at most k - 1 other micro-batches
// hold theirs. Number the chunk's forwards by start: the j-th (j >= k) starts when at most k - 1 of
// the j before it are alive, so one of the j - k + 1 or more released ones is numbered j - k or
// later:
//   start(F_j) >= start(F_{j-k}) + L                                                     (walls)
// and, the stages of the route running their forwards one at a time, start(F_j) is at least the
// flow-shop time of the j-th forward along the route (chunk_walls()); ChunkWalls::wall(j) is the
// larger of the two. Before start(F_j) the device has run j forwards and the releasing instances
// of at least j - k + 1 micro-batches (at the earliest, those of the first ones):
//   start(F_j) >= T_j = the one-machine end of those instances, run in head order.
// Micro-batches are interchangeable here (same heads, paths and tails), so micro-batch m may
// stand for the m-th forward: the one-machine bound (heads and tails) of every micro-batch, those
// numbered j or later with their forwards at T_j or later, each instance's head at least its
// forward's bound plus its path from the forward, bounds the makespan. j = 0 is the bound of all
// micro-batches after their walls.
// `others` are the device's other instances (of another chunk), with valid heads of their own:
// they join the one-machine bound unchanged (other chunks' activations only leave less room, so
// the chunk's own walls and T_j stay valid beside them).
double single_chunk_bound(const ChunkWalls& c, const std::vector<Job>& others) {
  const int N = c.micro_batches, k = c.k;
  if (k >= N) return 0;
  const auto after = [&](int j, double from) {
    std::vector<Job> jobs = others;
    c.jobs_after(j, from, jobs);
    return one_machine_jobs(std::move(jobs));
  };
  double bound = after(0, c.head_f);
  for (int j : sampled_moments(N)) {
    std::vector<Job> before;
    c.jobs_before(j, std::max(0, j - k + 1), before);
    const double t = std::max(release_order_end(std::move(before)), c.wall(j));
    bound = std::max(bound, after(j, t));
  }
  return bound;
}

// The memory walls of a device holding two chunks A and B (DualPipe's and the V placements: one
// stage per direction, or two stages of one route) whose activations have the same size, room for
// k of them. Which chunk holds how much of the room changes over time, so the bound takes the
// least over every split the schedule could have taken:
// number all the device's forwards by start; at the start of the n-th, at most k - 1 micro-batches
// of either chunk are alive, so of the n forwards before it, nA of A and nB = n - nA of B, at least
// n - k + 1 have released their activation: rA of A and rB of B with rA + rB = n - k + 1, rA <= nA,
// rB <= nB. Before that start the device has run those forwards and releasing instances (at the
// earliest: those of each chunk's first micro-batches, after each chunk's own walls, which hold
// because a chunk never has more of the room than the whole), so it starts at or after
//   T(nA, nB) = min over rA of the one-machine end of those instances, run in head order,
// and at or after the wall of the forward it is (A's nA-th or B's nB-th). Every later forward (A's
// micro-batches nA.., B's nB.., interchangeable within their chunk) starts then or later, and the
// one-machine bound (heads and tails) of all the device's instances, those with these later heads,
// bounds the makespan; the schedule took one (nA, nB), so the least over nA bounds it. The best
// over n is the bound. Also each chunk's own bound with the other chunk's instances beside it
// (single_chunk_bound()).
double two_chunk_bound(const ChunkWalls& a, const ChunkWalls& b, int k) {
  const int MA = a.micro_batches, MB = b.micro_batches;
  const auto after = [&](int na, int nb, double from) {
    std::vector<Job> jobs;
    a.jobs_after(na, from, jobs);
    b.jobs_after(nb, from, jobs);
    return one_machine_jobs(std::move(jobs));
  };
  double bound = after(0, 0, std::min(a.head_f, b.head_f));
  {
    std::vector<Job> b_jobs, a_jobs;
    b.jobs_after(0, b.head_f, b_jobs);
    a.jobs_after(0, a.head_f, a_jobs);
    bound = std::max({bound, single_chunk_bound(a, b_jobs), single_chunk_bound(b, a_jobs)});
  }
  // The split search below costs O(moments x M^2) one-machine bounds over M jobs: 0.2 s at 78
  // micro-batches, 70 s at 640 (found by fuzzing, with no clock to stop it). Beyond
  // kMaxTwoChunkMicroBatches the bound keeps the parts above, which stay valid, only weaker.
  constexpr int kMaxTwoChunkMicroBatches = 96;
  if (MA + MB > kMaxTwoChunkMicroBatches) return bound;
  for (int n : sampled_moments(MA + MB)) {
    const int releases = std::max(0, n - k + 1);
    double least = std::numeric_limits<double>::infinity();
    for (int na = std::max(0, n - MB); na <= std::min(n, MA) && least > bound; ++na) {
      const int nb = n - na;
      // The n-th forward is A's na-th or B's nb-th (one of them exists: n < MA + MB).
      double start = std::numeric_limits<double>::infinity();
      if (na < MA) start = std::min(start, a.wall(na));
      if (nb < MB) start = std::min(start, b.wall(nb));
      double t = std::numeric_limits<double>::infinity();
      for (int ra = std::max(0, releases - nb); ra <= std::min(na, releases); ++ra) {
        std::vector<Job> before;
        a.jobs_before(na, ra, before);
        b.jobs_before(nb, releases - ra, before);
        t = std::min(t, release_order_end(std::move(before)));
      }
      least = std::min(least, after(na, nb, std::max(start, t)));
    }
    bound = std::max(bound, least);
  }
  return bound;
}

// The memory walls of device d under its cap: one chunk (single_chunk_bound(), or the first wall
// when b frees part of the activation), or two chunks of equal activation (two_chunk_bound());
// nothing for more chunks.
double memory_wall_bound(const PipelineSpec& spec, const InstanceGraph& graph, int d) {
  const auto chunks = spec.device_chunks(d);
  const double budget = spec.cap(d) - spec.param_memory(d);
  if (chunks.empty() || chunks.size() > 2 || !std::isfinite(budget)) return 0;
  const StageSpec& st = spec.stages[static_cast<std::size_t>(chunks.front().second)];
  if (!(st.activation > 0)) return 0;
  const int N = spec.micro_batches_per_route();
  // Room for k activations; as a double first: a cap of 1e15 activations does not fit an int (found
  // by fuzzing; the conversion was undefined behaviour). Room for 2N or more is no wall at all.
  const double room = std::floor(budget / st.activation + 1e-9);
  if (!(room >= 1)) return 0;
  if (room >= 2.0 * N) return 0;
  const int k = static_cast<int>(room);
  if (chunks.size() == 1) {
    if (k >= N) return 0;
    const bool partial = st.weight_grad > 0 && st.input_grad_frees > 1e-12 &&
                         st.input_grad_frees < st.activation - 1e-12;
    if (partial) return first_wall_bound(graph, d, k, N);
    const auto c = chunk_walls(spec, graph, chunks.front().first, chunks.front().second, k);
    return c ? single_chunk_bound(*c, {}) : 0;
  }
  const StageSpec& st2 = spec.stages[static_cast<std::size_t>(chunks.back().second)];
  if (st2.activation != st.activation || k >= 2 * N) return 0;
  const auto a = chunk_walls(spec, graph, chunks.front().first, chunks.front().second, k);
  const auto b = chunk_walls(spec, graph, chunks.back().first, chunks.back().second, k);
  return a && b ? two_chunk_bound(*a, *b, k) : 0;
}

}  // namespace

double lower_bound(const InstanceGraph& graph) {
  double bound = graph.critical_path;
  for (const auto& ids : graph.by_device) bound = std::max(bound, one_machine_bound(graph, ids, graph.head));
  return bound;
}

double lower_bound(const PipelineSpec& spec, const InstanceGraph& graph) {
  double bound = lower_bound(graph);
  for (int d = 0; d < spec.num_devices; ++d) bound = std::max(bound, memory_wall_bound(spec, graph, d));
  return bound;
}

std::vector<double> minimum_memory(const PipelineSpec& spec, const InstanceGraph& graph) {
  const int P = spec.num_devices;
  std::vector<double> need(static_cast<std::size_t>(P), 0);
  // Micro-batch 0 of every route, run alone in topological order with each W right after its b:
  // every activation it holds at a forward's start is held at that moment in any schedule too,
  // because the backward that frees it depends on that forward.
  for (int r = 0; r < spec.num_routes(); ++r) {
    std::vector<double> live(static_cast<std::size_t>(P), 0);
    for (int i : graph.topo) {
      const Instance& op = graph.ops[static_cast<std::size_t>(i)];
      if (op.item.route != r || op.item.micro_batch != 0) continue;
      double& l = live[static_cast<std::size_t>(op.device)];
      l += op.alloc;
      need[static_cast<std::size_t>(op.device)] = std::max(need[static_cast<std::size_t>(op.device)], l);
      l -= op.free;
    }
  }
  for (int d = 0; d < P; ++d) need[static_cast<std::size_t>(d)] += spec.param_memory(d);
  return need;
}

PipelineOrders serial_orders(const PipelineSpec& spec, const InstanceGraph& graph) {
  std::vector<std::vector<int>> orders(static_cast<std::size_t>(spec.num_devices));
  // graph.topo lists micro-batch by micro-batch only by accident of construction; sort explicitly so
  // each micro-batch finishes before the next starts, in its own topological order.
  std::vector<int> sequence = graph.topo;
  std::stable_sort(sequence.begin(), sequence.end(), [&](int x, int y) {
    const WorkItem& a = graph.ops[static_cast<std::size_t>(x)].item;
    const WorkItem& b = graph.ops[static_cast<std::size_t>(y)].item;
    return a.micro_batch != b.micro_batch ? a.micro_batch < b.micro_batch : a.route < b.route;
  });
  for (int i : sequence) orders[static_cast<std::size_t>(graph.ops[static_cast<std::size_t>(i)].device)].push_back(i);
  return to_pipeline_orders(graph, orders);
}

std::vector<std::vector<int>> orders_of(const InstanceGraph& graph, const Schedule& schedule) {
  std::vector<std::vector<int>> orders(schedule.device_tasks.size());
  const auto push = [&](std::vector<int>& out, const WorkItem& item) {
    const int id = graph.find(item);
    if (id >= 0 && graph.ops[static_cast<std::size_t>(id)].item.work == item.work) {
      out.push_back(id);
      return true;
    }
    // A fused B where the graph splits it: run as b then W, back to back (the same times).
    if (item.work == Work::kBackward) {
      const int b = graph.find(WorkItem{Work::kInputGrad, item.route, item.micro_batch, item.stage});
      const int w = graph.find(WorkItem{Work::kWeightGrad, item.route, item.micro_batch, item.stage});
      if (b < 0 || w < 0) return false;
      out.push_back(b);
      out.push_back(w);
      return true;
    }
    // A split b / W where the graph has one B (no weight-gradient): the b stands for it.
    if (item.work == Work::kInputGrad && id >= 0) {
      out.push_back(id);
      return true;
    }
    return item.work == Work::kWeightGrad && id < 0;
  };
  for (std::size_t d = 0; d < schedule.device_tasks.size(); ++d)
    for (const Task& t : schedule.device_tasks[d]) {
      if (!t.overlapped) {
        if (!push(orders[d], t.item)) return {};
        continue;
      }
      // An overlapped F&B slot that takes as long as F then B is no better than running them in
      // that order: the forward's output is ready earlier, the backward ends at the same time, and
      // memory is taken at the start and freed at the end either way. A faster slot has no
      // equivalent without overlap.
      const WorkItem& first = t.item.work == Work::kForward ? t.item : *t.overlapped;
      const WorkItem& second = t.item.work == Work::kForward ? *t.overlapped : t.item;
      const std::size_t mark = orders[d].size();
      if (!push(orders[d], first) || !push(orders[d], second)) return {};
      double sequential = 0;
      for (std::size_t k = mark; k < orders[d].size(); ++k)
        sequential += graph.ops[static_cast<std::size_t>(orders[d][k])].duration;
      if (std::abs(sequential - t.duration()) > 1e-9 * std::max(1.0, sequential)) return {};
    }
  return orders;
}

PipelineOrders to_pipeline_orders(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders) {
  PipelineOrders out;
  out.devices.resize(orders.size());
  for (std::size_t d = 0; d < orders.size(); ++d)
    for (int i : orders[d]) out.devices[d].push_back(OrderEntry{graph.ops[static_cast<std::size_t>(i)].item, {}});
  return out;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
