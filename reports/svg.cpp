#include "reports/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace llmt::svg {
namespace {

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
const char* color(std::size_t i) { return kPalette[i % std::size(kPalette)]; }

// A "nice" upper bound and tick step for an axis from 0 to `max`.
std::pair<double, double> nice_axis(double max) {
  if (!(max > 0) || !std::isfinite(max)) return {1.0, 0.25};
  const double raw = max / 4.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  return {step * std::ceil(max / step), step};
}

std::string number(double v) {
  if (v == 0) return "0";
  if (std::fabs(v) >= 1000 || std::fabs(v) < 0.01) return fmt::format("{:.3g}", v);
  return fmt::format("{:.4g}", v);
}

// The opening <svg> element and its title.
std::string open_svg(const std::string& id, const std::string& title, double width, double height) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"{}\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\"><title>{}</title>\n",
      escape(id), width, height, width, height, escape(title));
}

// A legend entry: a colour swatch and its name.
std::string legend_entry(double x, double y, const char* fill, const std::string& name) {
  return fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" "
                     "y=\"{:.1f}\" class=\"legend\">{}</text>",
                     x, y, fill, x + 16, y + 10, escape(name));
}

// Evenly spaced ticks from 0 to a nice bound at or above `max`.
std::vector<double> nice_ticks(double max) {
  const auto [top, step] = nice_axis(max);
  std::vector<double> out;
  for (double v = 0; v <= top + 1e-9 * top; v += step) out.push_back(v);
  return out;
}

// Vertical grid lines at `ticks` from `top` to the axis at `axis_y`, their values under it, and
// the axis' label centred at `label_x` below them.
std::string horizontal_axis(const std::vector<double>& ticks, const std::function<double(double)>& tx, double top,
                            double axis_y, double label_x, const std::string& label) {
  std::string s;
  for (double v : ticks)
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/><text x=\"{:.1f}\" "
                     "y=\"{:.1f}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n",
                     tx(v), top, tx(v), axis_y, tx(v), axis_y + 16, number(v));
  return s + fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"label\" text-anchor=\"middle\">{}</text>\n",
                         label_x, axis_y + 34, escape(label));
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render(const LineChart& c) {
  const double width = 560, height = 320, left = 64, right = 150, top = 36, bottom = 48;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_max = 0;
  for (const Series& s : c.series)
    for (auto [x, y] : s.points) {
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      if (std::isfinite(y)) y_max = std::max(y_max, y);
    }
  if (!std::isfinite(x_min)) x_min = x_max = 1;
  if (c.dense) {
    x_min = 0;
    x_max = nice_axis(x_max).first;
  }
  auto tx = [&](double x) {
    const double a = c.log2_x ? std::log2(x) : x, lo = c.log2_x ? std::log2(x_min) : x_min,
                 hi = c.log2_x ? std::log2(x_max) : x_max;
    return left + (hi > lo ? (a - lo) / (hi - lo) : 0.5) * plot_w;
  };
  const auto [y_top, y_step] = nice_axis(y_max);
  auto ty = [&](double y) { return top + plot_h - y / y_top * plot_h; };

  std::string s = open_svg(c.id, c.title, width, height);
  s += fmt::format("<text x=\"{}\" y=\"20\" class=\"chart-title\">{}</text>\n", left, escape(c.title));
  for (double y = 0; y <= y_top + 1e-9 * y_top; y += y_step)
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1f}\" "
                     "class=\"tick\" text-anchor=\"end\">{}</text>\n",
                     left, ty(y), left + plot_w, ty(y), left - 6, ty(y) + 4, number(y));
  std::vector<double> xs;
  for (const Series& ser : c.series)
    for (auto [x, y] : ser.points) xs.push_back(x);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  if (c.dense) xs = nice_ticks(x_max);
  for (double x : xs)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n", tx(x),
                     top + plot_h + 16, number(x));
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>\n", left, top + plot_h,
                   left + plot_w, top + plot_h);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"label\" text-anchor=\"middle\">{}</text>\n",
                   left + plot_w / 2, height - 8, escape(c.x_label));
  s += fmt::format("<text x=\"14\" y=\"{:.1f}\" class=\"label\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 14 {:.1f})\">{}</text>\n",
                   top + plot_h / 2, top + plot_h / 2, escape(c.y_label));
  for (std::size_t i = 0; i < c.series.size(); ++i) {
    const Series& ser = c.series[i];
    auto pts = ser.points;
    std::sort(pts.begin(), pts.end());
    s += fmt::format("<g class=\"series\" data-series=\"{}\">", escape(ser.name));
    std::string path;
    for (auto [x, y] : pts) path += fmt::format("{:.1f},{:.1f} ", tx(x), ty(y));
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>", path, color(i),
                     ser.dashed ? " stroke-dasharray=\"5,4\"" : "");
    for (auto [x, y] : c.dense ? decltype(pts){} : pts)
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{}: {} ranks, {}</title></circle>",
                       tx(x), ty(y), color(i), escape(ser.name), number(x), number(y));
    s += legend_entry(left + plot_w + 14, top + 4 + 18.0 * static_cast<double>(i), color(i), ser.name) + "</g>\n";
  }
  return s + "</svg>\n";
}

std::string render(const BarChart& c) {
  const double row_h = 18, left = 330, right = 200, top = 36, bottom = 40, width = 960;
  const double plot_w = width - left - right, height = top + bottom + row_h * static_cast<double>(c.rows.size());
  double max_total = 0;
  for (const auto& row : c.values) {
    double total = 0;
    for (double v : row) total += std::max(0.0, v);
    max_total = std::max(max_total, total);
  }
  const double x_top = nice_axis(max_total).first;
  auto tx = [&](double v) { return left + v / x_top * plot_w; };
  std::string s = open_svg(c.id, c.title, width, height);
  s += fmt::format("<text x=\"8\" y=\"20\" class=\"chart-title\">{}</text>\n", escape(c.title));
  s += horizontal_axis(nice_ticks(max_total), tx, top, height - bottom, left + plot_w / 2, c.unit);
  for (std::size_t r = 0; r < c.rows.size(); ++r) {
    const double y = top + row_h * static_cast<double>(r);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"row-label\" text-anchor=\"end\">{}</text>\n", left - 6,
                     y + row_h * 0.7, escape(c.rows[r]));
  }
  for (std::size_t k = 0; k < c.series.size(); ++k) {
    s += fmt::format("<g class=\"series\" data-series=\"{}\">", escape(c.series[k]));
    for (std::size_t r = 0; r < c.rows.size(); ++r) {
      double start = 0;
      for (std::size_t j = 0; j < k; ++j) start += std::max(0.0, c.values[r][j]);
      const double v = std::max(0.0, c.values[r][k]);
      const std::string cls = r < c.row_classes.size() ? c.row_classes[r] : "";
      s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"{}><title>{}: {} "
                       "{} {}</title></rect>",
                       tx(start), top + row_h * static_cast<double>(r) + 2, tx(start + v) - tx(start), row_h - 4,
                       color(k), cls.empty() ? "" : " class=\"" + escape(cls) + "\"", escape(c.rows[r]),
                       escape(c.series[k]), number(c.values[r][k]), escape(c.unit));
    }
    s += legend_entry(width - right + 14, top + 18.0 * static_cast<double>(k), color(k), c.series[k]) + "</g>\n";
  }
  return s + "</svg>\n";
}

std::string render(const Timeline& c) {
  const double row_h = 18, left = 330, right = 200, top = 36, bottom = 40, width = 960;
  const double plot_w = width - left - right, height = top + bottom + row_h * static_cast<double>(c.rows.size());
  const double x_top = nice_axis(c.end).first;
  auto tx = [&](double v) { return left + std::clamp(v, 0.0, x_top) / x_top * plot_w; };
  std::string s = open_svg(c.id, c.title, width, height);
  s += fmt::format("<text x=\"8\" y=\"20\" class=\"chart-title\">{}</text>\n", escape(c.title));
  s += horizontal_axis(nice_ticks(c.end), tx, top, height - bottom, left + plot_w / 2, c.unit);
  const char* idle = "#e8e8e8";
  for (std::size_t r = 0; r < c.rows.size(); ++r) {
    const double y = top + row_h * static_cast<double>(r);
    s += fmt::format("<g class=\"lane\" data-row=\"{}\"><text x=\"{}\" y=\"{:.1f}\" class=\"row-label\" "
                     "text-anchor=\"end\">{}</text>",
                     escape(c.rows[r]), left - 6, y + row_h * 0.7, escape(c.rows[r]));
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>", tx(0),
                     y + 2, tx(c.end) - tx(0), row_h - 4, idle);
    for (auto [begin, end] : r < c.spans.size() ? c.spans[r] : std::vector<std::pair<double, double>>{})
      s += fmt::format("<rect class=\"span\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                       "fill=\"{}\"><title>{}: {} from {} to {} {}</title></rect>",
                       tx(begin), y + 2, tx(end) - tx(begin), row_h - 4, color(0), escape(c.rows[r]), escape(c.busy),
                       number(begin), number(end), escape(c.unit));
    s += "</g>\n";
  }
  s += legend_entry(width - right + 14, top, color(0), c.busy) + legend_entry(width - right + 14, top + 18, idle, c.idle);
  return s + "\n</svg>\n";
}

}  // namespace llmt::svg
