// Tests of tegu::ToDot and tegu::RenderGraph: the DOT text (nodes, edges, labels, escaping) and
// rendering through Graphviz's `dot` program, including when it is not on PATH.

#include "tegu/dot.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tegu/graph.hpp"
#include "tegu/native.hpp"

namespace tegu {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const TaskFunction> Function(const std::string& name) {
  return MakeNativeFunction(name, [](int64_t x) { return x + 1; });
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Whether Graphviz's `dot` is an executable on PATH.
bool GraphvizInstalled() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && access((fs::path(dir) / "dot").c_str(), X_OK) == 0) return true;
  }
  return false;
}

// inc-5f2a9c1e8d (a literal 1 fed to inc) -> ('add', 0) <- load-1, and a lone ('x', 0, 1).
struct SmallGraph {
  Graph graph;
  KeyId inc, load, add, x;
};

SmallGraph MakeSmallGraph() {
  SmallGraph g;
  g.inc = g.graph.AddTask("inc-5f2a9c1e8d",
                          TaskSpec(Function("inc"), {Arg::Literal(Value::From(int64_t{1}))}));
  g.load = g.graph.AddTask("load-1", TaskSpec(Function("load_data"),
                                              {Arg::Literal(Value::From(int64_t{2}))}));
  g.add = g.graph.AddTask(Key::Tuple({std::string("add"), int64_t{0}}),
                          TaskSpec(Function("add"), {Arg::Ref(g.inc)}, {{"y", Arg::Ref(g.load)}}));
  g.x = g.graph.AddTask(Key::Tuple({std::string("x"), int64_t{0}, int64_t{1}}),
                        TaskSpec::Literal(Value::From(int64_t{3})));
  return g;
}

// A fresh directory under the test temporary directory, removed at destruction.
class DotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "tegu-dot-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

// Sets PATH for the lifetime of the object, then restores it.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) saved_ = old;
    setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (saved_) {
      setenv("PATH", saved_->c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;

 private:
  std::optional<std::string> saved_;
};

TEST_F(DotTest, NodePerTaskAndPerKeyWithDependencyEdges) {
  SmallGraph g = MakeSmallGraph();
  std::string dot = ToDot(g.graph);
  EXPECT_EQ(dot.rfind("digraph {", 0), 0u) << dot;
  EXPECT_NE(dot.find("rankdir=BT"), std::string::npos);
  EXPECT_EQ(dot.back(), '\n');
  EXPECT_NE(dot.find("}\n"), std::string::npos);
  for (KeyId id : {g.inc, g.load, g.add, g.x}) {
    std::string s = std::to_string(id);
    // One task node and one data node per task, linked.
    EXPECT_EQ(CountOf(dot, "  t" + s + " [label="), 1u) << dot;
    EXPECT_EQ(CountOf(dot, "  k" + s + " [label="), 1u) << dot;
    EXPECT_EQ(CountOf(dot, "  t" + s + " -> k" + s + ";"), 1u) << dot;
  }
  // The dependencies of ('add', 0), one edge each.
  EXPECT_EQ(CountOf(dot, "k" + std::to_string(g.inc) + " -> t" + std::to_string(g.add) + ";"), 1u);
  EXPECT_EQ(CountOf(dot, "k" + std::to_string(g.load) + " -> t" + std::to_string(g.add) + ";"),
            1u);
  EXPECT_EQ(CountOf(dot, " -> t"), 2u) << dot;  // no other dependency edges
}

TEST_F(DotTest, LabelsUseFunctionNamesAndKeyPrefixes) {
  SmallGraph g = MakeSmallGraph();
  std::string dot = ToDot(g.graph);
  std::string inc = std::to_string(g.inc);
  std::string add = std::to_string(g.add);
  std::string x = std::to_string(g.x);
  EXPECT_NE(dot.find("t" + inc + " [label=\"inc\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("k" + inc + " [label=\"inc\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("t" + std::to_string(g.load) + " [label=\"load_data\""), std::string::npos);
  EXPECT_NE(dot.find("k" + std::to_string(g.load) + " [label=\"load\""), std::string::npos);
  EXPECT_NE(dot.find("k" + add + " [label=\"add\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("t" + x + " [label=\"identity\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("k" + x + " [label=\"x\""), std::string::npos) << dot;
  EXPECT_EQ(dot.find("5f2a9c1e8d"), std::string::npos) << dot;  // prefixes, not keys

  DotOptions verbose;
  verbose.verbose = true;
  std::string full = ToDot(g.graph, verbose);
  EXPECT_NE(full.find("[label=\"inc-5f2a9c1e8d\""), std::string::npos) << full;
  EXPECT_NE(full.find("[label=\"('x', 0, 1)\""), std::string::npos) << full;

  DotOptions lr;
  lr.rankdir = "LR";
  EXPECT_NE(ToDot(g.graph, lr).find("rankdir=LR"), std::string::npos);
}

TEST_F(DotTest, FusedTaskLabelNamesTheChain) {
  Graph graph;
  KeyId a = graph.Intern("a");
  KeyId c = graph.Intern("c");
  Task fused;
  fused.prelude.push_back(
      TaskStep{a, TaskSpec(Function("load"), {Arg::Literal(Value::From(int64_t{1}))})});
  fused.spec = TaskSpec(Function("inc"), {Arg::Ref(a)});
  graph.SetTask(c, std::move(fused));
  std::string dot = ToDot(graph);
  EXPECT_NE(dot.find("load-...-inc (2 fused)"), std::string::npos) << dot;
  EXPECT_EQ(CountOf(dot, " -> t"), 0u) << dot;  // the prelude's key is not a dependency
}

TEST_F(DotTest, QuotesAndBackslashesAreEscaped) {
  Graph graph;
  KeyId q = graph.AddTask("say\"hi\"", TaskSpec(Function("quote\"fn\\x"),
                                                {Arg::Literal(Value::From(int64_t{1}))}));
  KeyId missing = graph.Intern("we\"ird");
  graph.AddTask("user", TaskSpec(Function("f"), {Arg::Ref(q)}, {{"m", Arg::Ref(missing)}}));
  std::string dot = ToDot(graph);
  EXPECT_NE(dot.find("[label=\"quote\\\"fn\\\\x\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("[label=\"say\\\"hi\\\"\""), std::string::npos) << dot;
  // A referenced key without a task is drawn dashed, escaped too.
  EXPECT_NE(dot.find("[label=\"we\\\"ird\", shape=box, style=dashed]"), std::string::npos) << dot;
  // Every quote inside a label is escaped: quotes outside escapes come in pairs per line.
  std::istringstream lines(dot);
  for (std::string line; std::getline(lines, line);) {
    size_t unescaped = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\') {
        ++i;
      } else if (line[i] == '"') {
        ++unescaped;
      }
    }
    EXPECT_EQ(unescaped % 2, 0u) << line;
  }
}

TEST_F(DotTest, RenderDotWritesTheFile) {
  SmallGraph g = MakeSmallGraph();
  fs::path file = dir_ / "graph.dot";
  Status st = RenderGraph(g.graph, file.string());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadFile(file), ToDot(g.graph));
}

TEST_F(DotTest, RenderSvgRunsGraphviz) {
  if (!GraphvizInstalled()) GTEST_SKIP() << "Graphviz's dot is not on PATH";
  SmallGraph g = MakeSmallGraph();
  fs::path file = dir_ / "graph.svg";
  Status st = RenderGraph(g.graph, file.string());
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string svg = ReadFile(file);
  EXPECT_TRUE(svg.rfind("<?xml", 0) == 0 || svg.find("<svg") != std::string::npos)
      << svg.substr(0, 200);
  EXPECT_NE(svg.find("load_data"), std::string::npos);
  // The temporary .dot file is cleaned up.
  EXPECT_FALSE(fs::exists(dir_ / "graph.svg.tmp.dot"));
}

TEST_F(DotTest, RenderPngWithoutGraphvizIsIOErrorNamingDot) {
  SmallGraph g = MakeSmallGraph();
  fs::path empty_bin = dir_ / "empty-bin";
  fs::create_directories(empty_bin);
  fs::path file = dir_ / "graph.png";
  Status st;
  {
    ScopedPath path(empty_bin.string());
    st = RenderGraph(g.graph, file.string());
  }
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("'dot'"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(dir_ / "graph.png.tmp.dot"));
  // PATH is restored: rendering works again.
  if (!GraphvizInstalled()) return;
  EXPECT_TRUE(RenderGraph(g.graph, (dir_ / "again.png").string()).ok());
  EXPECT_TRUE(fs::exists(dir_ / "again.png"));
}

TEST_F(DotTest, UnknownExtensionIsInvalid) {
  SmallGraph g = MakeSmallGraph();
  for (const char* name : {"graph.txt", "graph", "graph.dott"}) {
    Status st = RenderGraph(g.graph, (dir_ / name).string());
    EXPECT_EQ(st.code(), StatusCode::kInvalid) << name << ": " << st.ToString();
    EXPECT_NE(st.message().find(name), std::string::npos) << st.message();
    EXPECT_FALSE(fs::exists(dir_ / name));
  }
}

TEST_F(DotTest, UnwritableDotFileIsIOError) {
  SmallGraph g = MakeSmallGraph();
  Status st = RenderGraph(g.graph, (dir_ / "no-such-dir" / "graph.dot").string());
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
}

}  // namespace
}  // namespace tegu
