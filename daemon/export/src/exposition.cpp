#include "syslens/export/exposition.h"

#include <prometheus/text_serializer.h>

#include <charconv>
#include <cmath>

namespace syslens {

void append_label(std::string& labels, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  if (!labels.empty()) labels += ',';
  labels += name;
  labels += "=\"";
  for (char c : value) {
    switch (c) {
      case '\\':
        labels += "\\\\";
        break;
      case '"':
        labels += "\\\"";
        break;
      case '\n':
        labels += "\\n";
        break;
      default:
        labels += c;
    }
  }
  labels += '"';
}

void TextWriter::family(std::string_view name, std::string_view help, std::string_view type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {  // HELP escapes only backslash and newline
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void TextWriter::head(std::string_view name, std::string_view labels, std::string_view extra) {
  out_ += name;
  if (!labels.empty() || !extra.empty()) {
    out_ += '{';
    out_ += labels;
    if (!labels.empty() && !extra.empty()) out_ += ',';
    out_ += extra;
    out_ += '}';
  }
  out_ += ' ';
}

void TextWriter::sample(std::string_view name, std::string_view labels, std::string_view extra, std::uint64_t value) {
  head(name, labels, extra);
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, end);
  out_ += '\n';
}

void TextWriter::sample(std::string_view name, std::string_view labels, std::string_view extra, double value) {
  head(name, labels, extra);
  out_ += format_double(value);
  out_ += '\n';
}

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

void append_families(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  static const prometheus::TextSerializer serializer;
  out += serializer.Serialize(families);
}

}  // namespace syslens
