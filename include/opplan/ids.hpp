// Strong ids: an OpId cannot be passed where a DeviceId is expected. Ids are dense indices
// (0 .. n-1) in insertion order, so they can index the caller's own arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

template <typename Tag>
class Id {
 public:
  using value_type = std::uint32_t;
  static constexpr value_type kInvalid = std::numeric_limits<value_type>::max();

  constexpr Id() = default;  // invalid
  constexpr explicit Id(value_type value) : value_(value) {}

  constexpr value_type value() const { return value_; }
  constexpr bool valid() const { return value_ != kInvalid; }

  friend constexpr bool operator==(Id a, Id b) { return a.value_ == b.value_; }
  friend constexpr bool operator!=(Id a, Id b) { return a.value_ != b.value_; }
  friend constexpr bool operator<(Id a, Id b) { return a.value_ < b.value_; }
  friend constexpr bool operator<=(Id a, Id b) { return a.value_ <= b.value_; }
  friend constexpr bool operator>(Id a, Id b) { return a.value_ > b.value_; }
  friend constexpr bool operator>=(Id a, Id b) { return a.value_ >= b.value_; }

 private:
  value_type value_ = kInvalid;
};

struct OpTag;
struct EdgeTag;
struct DeviceTag;
struct MeshTag;
using OpId = Id<OpTag>;
using EdgeId = Id<EdgeTag>;
using DeviceId = Id<DeviceTag>;
using MeshId = Id<MeshTag>;

// The ids 0 .. n-1 as a range: `for (OpId op : graph.ops())`.
template <typename IdT>
class IdRange {
 public:
  class iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = IdT;
    using difference_type = std::ptrdiff_t;
    using pointer = const IdT*;
    using reference = IdT;

    constexpr iterator() = default;
    constexpr explicit iterator(typename IdT::value_type v) : v_(v) {}
    constexpr IdT operator*() const { return IdT(v_); }
    constexpr IdT operator[](difference_type n) const { return IdT(static_cast<typename IdT::value_type>(v_ + n)); }
    constexpr iterator& operator++() { ++v_; return *this; }
    constexpr iterator operator++(int) { iterator t = *this; ++v_; return t; }
    constexpr iterator& operator--() { --v_; return *this; }
    constexpr iterator operator--(int) { iterator t = *this; --v_; return t; }
    constexpr iterator& operator+=(difference_type n) { v_ = static_cast<typename IdT::value_type>(v_ + n); return *this; }
    constexpr iterator& operator-=(difference_type n) { v_ = static_cast<typename IdT::value_type>(v_ - n); return *this; }
    friend constexpr iterator operator+(iterator i, difference_type n) { return i += n; }
    friend constexpr iterator operator+(difference_type n, iterator i) { return i += n; }
    friend constexpr iterator operator-(iterator i, difference_type n) { return i -= n; }
    friend constexpr difference_type operator-(iterator a, iterator b) {
      return static_cast<difference_type>(a.v_) - static_cast<difference_type>(b.v_);
    }
    friend constexpr bool operator==(iterator a, iterator b) { return a.v_ == b.v_; }
    friend constexpr bool operator!=(iterator a, iterator b) { return a.v_ != b.v_; }
    friend constexpr bool operator<(iterator a, iterator b) { return a.v_ < b.v_; }
    friend constexpr bool operator>(iterator a, iterator b) { return a.v_ > b.v_; }
    friend constexpr bool operator<=(iterator a, iterator b) { return a.v_ <= b.v_; }
    friend constexpr bool operator>=(iterator a, iterator b) { return a.v_ >= b.v_; }

   private:
    typename IdT::value_type v_ = 0;
  };

  constexpr explicit IdRange(std::size_t n) : n_(static_cast<typename IdT::value_type>(n)) {}
  constexpr iterator begin() const { return iterator(0); }
  constexpr iterator end() const { return iterator(n_); }
  constexpr std::size_t size() const { return n_; }
  constexpr bool empty() const { return n_ == 0; }

 private:
  typename IdT::value_type n_;
};

OPPLAN_END_NAMESPACE

namespace std {
template <typename Tag>
struct hash<opplan::Id<Tag>> {
  std::size_t operator()(opplan::Id<Tag> id) const noexcept { return std::hash<std::uint32_t>{}(id.value()); }
};
}  // namespace std
