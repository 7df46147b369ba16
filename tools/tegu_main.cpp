// `tegu`: the command line of a cluster's processes — `tegu scheduler`, `tegu worker ADDRESS`.
// Everything is in tegu::distributed::RunCommandLine, which the Python front end calls too.
#include <string>
#include <vector>

#include "tegu/bag/kernels.hpp"
#include "tegu/distributed/cli.hpp"

int main(int argc, char** argv) {
  tegu::bag::RegisterBagKernels();  // a worker serves the bag's text kernels
  std::vector<std::string> args(argv + 1, argv + argc);
  return tegu::distributed::RunCommandLine(std::move(args));
}
