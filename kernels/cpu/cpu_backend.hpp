// The CPU backend: a rank is a thread; its memory is 64-byte aligned host memory charged to
// its tracker; GEMMs through CBLAS with one BLAS thread per rank.
#pragma once

#include <memory>

#include "engine/backend.hpp"

namespace llmt {

std::unique_ptr<Backend> make_cpu_backend();

class BackendRegistry;
// Adds the `cpu` entry (kernels/cpu/cpu_registration.cpp).
void register_cpu_backend(BackendRegistry& registry);

}  // namespace llmt
