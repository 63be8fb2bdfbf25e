# Decides once whether process mode over MPI is built. LLMT_MPI: AUTO (build it when an MPI
# with C bindings is found), ON (require one), OFF (never). Sets LLMT_WITH_MPI and prints one
# found / not found line. Without it, ranks are threads of one process, as always.
set(LLMT_MPI "AUTO" CACHE STRING "Build process mode over MPI (mpirun/srun launch): AUTO, ON or OFF")
set_property(CACHE LLMT_MPI PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${LLMT_MPI}" _llmt_mpi)
if(NOT _llmt_mpi MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "LLMT_MPI must be AUTO, ON or OFF (got '${LLMT_MPI}')")
endif()

set(LLMT_WITH_MPI OFF)
if(_llmt_mpi STREQUAL "OFF")
  message(STATUS "llmthreads: MPI        disabled (LLMT_MPI=OFF)")
  return()
endif()

# MPI's C API from C++ (FindMPI's CXX component); never the C++ bindings, gone since MPI 3.
set(MPI_CXX_SKIP_MPICXX ON CACHE BOOL "Do not link the deprecated MPI C++ bindings")
find_package(MPI QUIET COMPONENTS CXX)
if(MPI_CXX_FOUND)
  set(LLMT_WITH_MPI ON)
  find_program(LLMT_MPIEXEC NAMES mpiexec mpirun HINTS ${MPIEXEC_EXECUTABLE})
  message(STATUS "llmthreads: MPI        found: MPI ${MPI_CXX_VERSION} (${MPI_CXX_LIBRARIES}; ${LLMT_MPIEXEC})")
elseif(_llmt_mpi STREQUAL "ON")
  message(FATAL_ERROR "LLMT_MPI=ON but no MPI was found (Debian: apt-get install openmpi-bin libopenmpi-dev)")
else()
  message(STATUS "llmthreads: MPI        not found (process mode off; Debian: openmpi-bin libopenmpi-dev)")
endif()
