// Shared by the libFuzzer harnesses of tests/fuzz: the round-trip check of the JSON formats, and a
// private file for the readers that take a path.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace opplan_fuzz {

// A finding: print what broke and abort, so libFuzzer saves the input.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "fuzz finding: %.*s\n%.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// The formats promise lossless write-then-read: whatever reads must write, read again, and write
// the same text.
template <typename Parse, typename Write>
void check_round_trip(std::string_view text, Parse parse, Write write) {
  auto first = parse(text);
  if (!first.ok()) return;  // bad input must only be refused: reaching here without a crash is the test
  const std::string written = write(*first);
  auto second = parse(written);
  if (!second.ok()) fail("written text does not read back", second.status().to_string() + "\n" + written);
  const std::string again = write(*second);
  if (again != written) fail("write-read-write is not a fixed point", written + "\n----\n" + again);
}

// A per-process file holding `data` (for readers that take a path), removed by the destructor.
class TempFile {
 public:
  TempFile(const std::uint8_t* data, std::size_t size, const char* suffix) {
    path_ = "/tmp/opplan-fuzz-" + std::to_string(getpid()) + suffix;
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace opplan_fuzz
