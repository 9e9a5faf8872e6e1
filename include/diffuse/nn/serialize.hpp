// diffuse/nn/serialize.hpp: saving and loading mlp weights.
//
// Format (all integers little-endian; documented in docs/mlp.md):
//   offset  size        field
//   0       8           magic "DFSNMLP\0"
//   8       4           format version, u32 = 1
//   12      4           scalar size in bytes, u32: 4 (IEEE binary32) or 8 (binary64)
//   16      4           number of widths n (layers + 1), u32, 2 .. 4096
//   20      8 n         widths, u64 each, 1 .. 2^24
//   20+8n   8           parameter count P, u64 (must equal what the widths imply)
//   28+8n   s P         parameters in mlp::parameters() order (W_l column-major, then b_l)
//   end-4   4           CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it
// A file whose magic, version, sizes or checksum do not match, or that ends early or has
// trailing bytes, is reported as diffuse::error naming the field. A file may be loaded into
// either scalar type (values are converted). The activation is not stored: it is part of the
// type the caller loads into.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/nn/mlp.hpp"

namespace diffuse::nn {

namespace detail {

static_assert(std::endian::native == std::endian::little, "the weight file writer assumes a little-endian host");

inline constexpr std::array<char, 8> mlp_magic{'D', 'F', 'S', 'N', 'M', 'L', 'P', '\0'};
inline constexpr std::uint32_t mlp_format_version = 1;

// CRC-32, reflected polynomial 0xEDB88320 (IEEE 802.3; zlib's crc32), bitwise.
inline std::uint32_t crc32(const unsigned char* data, std::size_t size, std::uint32_t crc = 0) {
    crc = ~crc;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

template <class V>
void put(std::vector<unsigned char>& out, V value) {
    unsigned char bytes[sizeof(V)];
    std::memcpy(bytes, &value, sizeof(V));
    out.insert(out.end(), bytes, bytes + sizeof(V));
}

// Reads fields in order and names the one that runs past the end.
class byte_reader {
public:
    explicit byte_reader(const std::vector<unsigned char>& bytes) : bytes_(bytes) {}

    template <class V>
    V get(const char* field) {
        require(bytes_.size() - position_ >= sizeof(V), "weight file", "truncated",
                std::string("a complete file (it ends inside the field '") + field + "')");
        V value;
        std::memcpy(&value, bytes_.data() + position_, sizeof(V));
        position_ += sizeof(V);
        return value;
    }
    std::size_t position() const { return position_; }

private:
    const std::vector<unsigned char>& bytes_;
    std::size_t position_ = 0;
};

}  // namespace detail

template <Real T, class A>
void save(const mlp<T, A>& net, std::ostream& out) {
    std::vector<unsigned char> bytes;
    bytes.insert(bytes.end(), detail::mlp_magic.begin(), detail::mlp_magic.end());
    detail::put<std::uint32_t>(bytes, detail::mlp_format_version);
    detail::put<std::uint32_t>(bytes, sizeof(T));
    detail::put<std::uint32_t>(bytes, static_cast<std::uint32_t>(net.widths().size()));
    for (index w : net.widths()) detail::put<std::uint64_t>(bytes, static_cast<std::uint64_t>(w));
    detail::put<std::uint64_t>(bytes, static_cast<std::uint64_t>(net.parameter_count()));
    for (T value : net.parameters()) detail::put<T>(bytes, value);
    detail::put<std::uint32_t>(bytes, detail::crc32(bytes.data(), bytes.size()));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    require(static_cast<bool>(out), "output stream", "a failed write", "a writable stream");
}

template <Real T, class A>
void save(const mlp<T, A>& net, const std::string& path) {
    std::ofstream file(path, std::ios::binary);
    require(static_cast<bool>(file), "path", path, "a writable file");
    save(net, file);
}

template <Real T, class A = silu>
mlp<T, A> load_mlp(std::istream& in) {
    const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    detail::byte_reader reader(bytes);
    std::array<char, 8> magic{};
    for (char& c : magic) c = static_cast<char>(reader.get<unsigned char>("magic"));
    require(magic == detail::mlp_magic, "weight file magic", std::string(magic.data(), 7),
            "\"DFSNMLP\" (not a diffuse mlp weight file)");
    const auto version = reader.get<std::uint32_t>("version");
    require(version == detail::mlp_format_version, "weight file version", version, "1");
    const auto scalar_size = reader.get<std::uint32_t>("scalar size");
    require(scalar_size == 4 || scalar_size == 8, "weight file scalar size", scalar_size, "4 (float) or 8 (double)");
    const auto count = reader.get<std::uint32_t>("number of widths");
    require(count >= 2 && count <= 4096, "weight file number of widths", count, "2 .. 4096");
    std::vector<index> widths;
    std::uint64_t expected = 0;
    for (std::uint32_t l = 0; l < count; ++l) {
        const auto w = reader.get<std::uint64_t>("widths");
        require(w >= 1 && w <= (std::uint64_t{1} << 24), "weight file widths[" + std::to_string(l) + "]", w,
                "1 .. 16777216");
        if (l > 0) expected += w * static_cast<std::uint64_t>(widths.back()) + w;
        widths.push_back(static_cast<index>(w));
    }
    const auto parameters = reader.get<std::uint64_t>("parameter count");
    require(parameters == expected, "weight file parameter count", parameters,
            std::to_string(expected) + " (what the widths imply)");
    require(bytes.size() - reader.position() == parameters * scalar_size + 4, "weight file size", bytes.size(),
            std::to_string(reader.position() + parameters * scalar_size + 4) +
                " bytes (header, parameters and checksum; the file is truncated or has trailing bytes)");
    const std::size_t checked = bytes.size() - 4;
    std::uint32_t stored;
    std::memcpy(&stored, bytes.data() + checked, 4);
    require(stored == detail::crc32(bytes.data(), checked), "weight file checksum", stored,
            "the CRC-32 of the file's contents (the file is corrupt)");

    mlp<T, A> net(std::move(widths));
    auto p = net.parameters();
    for (index i = 0; i < p.size(); ++i) {
        p[i] = scalar_size == 4 ? static_cast<T>(reader.get<float>("parameters"))
                                : static_cast<T>(reader.get<double>("parameters"));
    }
    return net;
}

template <Real T, class A = silu>
mlp<T, A> load_mlp(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    require(static_cast<bool>(file), "path", path, "a readable file");
    return load_mlp<T, A>(file);
}

}  // namespace diffuse::nn
