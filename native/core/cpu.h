// CPU feature detection and the ISA level sparq dispatches to.
#pragma once
#include <string>

namespace sparq {

// Dispatch levels, lowest first. Each level implies the ones below it.
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx2 = false;      // AVX2 + FMA + F16C, with OS support for YMM state
  bool avx512 = false;    // AVX-512 F/BW/VL/DQ, with OS support for ZMM and opmask state
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  std::string vendor;
  std::string brand;
};

// Detected once (cpuid + XCR0), cached.
const CpuFeatures& cpu_features();

// Highest level this CPU and OS support.
Isa detected_isa();

const char* isa_name(Isa isa);

// Parses "scalar" | "avx2" | "avx512". Returns false on an unknown name.
bool parse_isa(const std::string& name, Isa* out);

}  // namespace sparq
