// Rendering a graph as Graphviz DOT text, and to SVG/PNG/PDF through Graphviz's `dot` program
// (as dask.visualize): each task is an ellipse labelled with its function, each result a box
// labelled with its key prefix.
//
// Thread-safety: pure functions; RenderGraph spawns a process and writes `filename`.
#pragma once

#include <span>
#include <string>

#include "tegu/graph.hpp"

namespace tegu {

struct DotOptions {
  std::string rankdir = "BT";   ///< as Dask: dependencies below their dependents
  bool collapse_outputs = false;
  bool verbose = false;         ///< full keys instead of prefixes as labels
};

std::string ToDot(const Graph& graph, const DotOptions& options = {});

/// Writes `filename`; the format follows its extension: .dot (no Graphviz needed), .svg, .png,
/// .pdf, .jpg. Fails with IOError naming the `dot` program when Graphviz is not installed.
Status RenderGraph(const Graph& graph, const std::string& filename,
                   const DotOptions& options = {});

}  // namespace tegu
