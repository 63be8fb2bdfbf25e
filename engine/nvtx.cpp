#include "engine/nvtx.hpp"

#ifdef LLMT_WITH_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace llmt::nvtx {

#ifdef LLMT_WITH_NVTX
namespace {

nvtxDomainHandle_t domain() {
  static const nvtxDomainHandle_t d = nvtxDomainCreateA("llmthreads");
  return d;
}

nvtxEventAttributes_t attributes(Color color) {
  nvtxEventAttributes_t a{};
  a.version = NVTX_VERSION;
  a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  a.colorType = NVTX_COLOR_ARGB;
  a.color = static_cast<std::uint32_t>(color);
  a.category = static_cast<std::uint32_t>(color) & 0xFFu;
  return a;
}

}  // namespace

const void* register_name(const std::string& name) { return nvtxDomainRegisterStringA(domain(), name.c_str()); }

void push(const void* registered, Color color, std::uint64_t payload) {
  nvtxEventAttributes_t a = attributes(color);
  a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  a.message.registered = static_cast<nvtxStringHandle_t>(const_cast<void*>(registered));
  a.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
  a.payload.ullValue = payload;
  nvtxDomainRangePushEx(domain(), &a);
}

void push(const std::string& name, Color color) {
  nvtxEventAttributes_t a = attributes(color);
  a.messageType = NVTX_MESSAGE_TYPE_ASCII;
  a.message.ascii = name.c_str();
  nvtxDomainRangePushEx(domain(), &a);
}

void pop() { nvtxDomainRangePop(domain()); }
#else
const void* register_name(const std::string&) { return nullptr; }
void push(const void*, Color, std::uint64_t) {}
void push(const std::string&, Color) {}
void pop() {}
#endif

}  // namespace llmt::nvtx
