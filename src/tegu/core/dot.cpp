#include "tegu/dot.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

extern char** environ;

namespace tegu {

namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string Lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Runs `dot -T<format> -o <output> <input>`; IOError naming the program when it is missing.
Status RunDot(const std::string& format, const std::string& input, const std::string& output) {
  std::string fmt_flag = "-T" + format;
  std::vector<std::string> argv_strings = {"dot", fmt_flag, "-o", output, input};
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
  if (rc == ENOENT) {
    return Status::IOError(
        "cannot render '" + output + "': Graphviz's 'dot' program was not found on PATH; "
        "install Graphviz (for example: apt-get install graphviz) or write a .dot file");
  }
  if (rc != 0) {
    return Status::IOError("cannot run Graphviz's 'dot' program: " + std::string(strerror(rc)));
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::IOError("waiting for 'dot' failed: " + std::string(strerror(errno)));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::IOError("Graphviz's 'dot' failed to render '" + output + "' (exit status " +
                           std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) + ")");
  }
  return Status::OK();
}

}  // namespace

std::string ToDot(const Graph& graph, const DotOptions& options) {
  // Appends piecewise: GCC 12 reports a false -Wrestrict on chains of std::string operator+.
  std::string out = "digraph {\n  graph [rankdir=";
  out += options.rankdir;
  out += "];\n";
  auto append = [&out](std::initializer_list<std::string_view> parts) {
    for (std::string_view p : parts) out.append(p);
  };
  std::vector<KeyId> deps;
  auto data_label = [&](KeyId id) {
    return Escape(options.verbose ? graph.key(id).ToString() : graph.key(id).Prefix());
  };
  for (KeyId id : graph.TaskIds()) {
    const Task& task = graph.task(id);
    std::string fn = task.spec.FunctionName();
    if (!task.prelude.empty()) {
      std::string first = task.prelude.front().spec.FunctionName();
      std::string count = std::to_string(task.prelude.size() + 1);
      fn.insert(0, first + "-...-");
      fn.append(" (").append(count).append(" fused)");
    }
    std::string ids = std::to_string(id);
    append({"  t", ids, " [label=\"", Escape(fn), "\", shape=circle];\n"});
    append({"  k", ids, " [label=\"", data_label(id), "\", shape=box];\n"});
    append({"  t", ids, " -> k", ids, ";\n"});
    graph.Dependencies(id, &deps);
    for (KeyId dep : deps) {
      std::string dep_id = std::to_string(dep);
      if (!graph.has_task(dep)) {
        append({"  k", dep_id, " [label=\"", data_label(dep), "\", shape=box, style=dashed];\n"});
      }
      append({"  k", dep_id, " -> t", ids, ";\n"});
    }
  }
  out += "}\n";
  return out;
}

Status RenderGraph(const Graph& graph, const std::string& filename, const DotOptions& options) {
  namespace fs = std::filesystem;
  std::string ext = Lowercase(fs::path(filename).extension().string());
  if (!ext.empty()) ext = ext.substr(1);
  static const char* kFormats[] = {"svg", "png", "pdf", "jpg", "jpeg", "gif", "dot"};
  if (std::find(std::begin(kFormats), std::end(kFormats), ext) == std::end(kFormats)) {
    return Status::Invalid("cannot render to '" + filename +
                           "': unknown format; use .dot, .svg, .png, .pdf, .jpg or .gif");
  }
  std::string dot = ToDot(graph, options);
  std::string target = ext == "dot" ? filename : filename + ".tmp.dot";
  {
    std::ofstream file(target, std::ios::binary);
    if (!file) return Status::IOError("cannot write '" + target + "'");
    file << dot;
    if (!file) return Status::IOError("cannot write '" + target + "'");
  }
  if (ext == "dot") return Status::OK();
  Status st = RunDot(ext == "jpg" ? "jpeg" : ext, target, filename);
  std::error_code ec;
  fs::remove(target, ec);
  return st;
}

}  // namespace tegu
