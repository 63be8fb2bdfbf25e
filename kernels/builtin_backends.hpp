// The backends this build has, registered in the engine's table. Call once at start, before
// any backend is looked up (the CLI's main, test and benchmark mains do); later calls do nothing.
#pragma once

namespace llmt {

void register_builtin_backends();

}  // namespace llmt
