// `--device`: names parse; asking for CUDA where this build or this machine cannot give it ends
// with one line naming the cause; a build without CUDA says how to get it.
#include "crosscoder/step.hpp"
#include "device/device.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

TEST(Device, NamesParseAndUnknownOnesAreRefused) {
  EXPECT_EQ(parse_device("cpu", "--device"), Device::Cpu);
  EXPECT_EQ(parse_device("cuda", "--device"), Device::Cuda);
  test::expect_error([] { parse_device("gpu", "--device"); }, {"--device", "not a device", "cpu or cuda", "gpu"});
  EXPECT_NO_THROW(require_device(Device::Cpu, "--device"));
}

TEST(Device, CudaWithoutTheBackendOrAGpuIsRefusedInOneLine) {
  if (!cuda_built()) {
    test::expect_error([] { require_device(Device::Cuda, "--device"); }, {"--device cuda", "without the CUDA backend", "-DCROSSCODER_CUDA=ON"});
    CrosscoderParams p, g;
    CrosscoderConfig c;
    crosscoder_init(p, 4, 8, 0.3, 1);
    g.resize(4, 8);
    std::vector<float> x(16, 1.f);
    test::expect_error([&] { crosscoder_step_cuda(p, c, {x.data(), 2, 0.1}, g); }, {"--device cuda", "-DCROSSCODER_CUDA=ON"});
  } else if (!device_unavailable(Device::Cuda).empty()) {
    test::expect_error([] { require_device(Device::Cuda, "--device"); }, {"--device cuda", "no usable GPU"});
  } else {
    GTEST_SKIP() << "a GPU is present: " << describe_device(Device::Cuda);
  }
}

}  // namespace
}  // namespace cc
