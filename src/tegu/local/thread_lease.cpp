#include "tegu/local/thread_lease.hpp"

namespace tegu::internal {

namespace {
thread_local LeaseLevel* t_current_level = nullptr;
}  // namespace

LeaseLevel::LeaseLevel() : outer_(t_current_level) { t_current_level = this; }

LeaseLevel::~LeaseLevel() {
  ReleaseThreadLease();
  t_current_level = outer_;
}

bool HoldThreadLease(LeaseRelease release) {
  if (t_current_level == nullptr) return false;
  t_current_level->release_ = release;
  return true;
}

void ReleaseThreadLease() {
  LeaseLevel* level = t_current_level;
  if (level != nullptr && level->release_ != nullptr) {
    LeaseRelease release = level->release_;
    level->release_ = nullptr;
    release();
  }
}

bool HoldsThreadLease() { return t_current_level != nullptr && t_current_level->release_; }

}  // namespace tegu::internal
