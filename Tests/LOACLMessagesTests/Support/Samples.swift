import LOACLMessages

/// A message type the generator gave a `sample` function (Generated/Samples+Generated.swift).
protocol SampleProviding: ProtoMessage {
    /// Variants 0..<sampleVariants set each member of every oneof at least once.
    static var sampleVariants: Int { get }
    static func sample(_ variant: Int, depth: Int) -> Self
}

extension SampleProviding {
    static func sample(_ variant: Int) -> Self { sample(variant, depth: 0) }
}

/// Field values for generated samples: extremes, zero, non-ASCII text, and unknown enum values.
/// Consecutive variants give different values, so map keys built from v and v + 1 differ.
enum Samples {
    static let maxDepth = 3

    static let strings = [
        "héllo 🌍 مرحبا", "", "a", "x-loacl-session-token", "日本語のテキスト",
        String(repeating: "long text ", count: 40), "line\nbreak\ttab \"quoted\" \\", "Ω≈ç√∫",
    ]

    static func count(_ v: Int) -> Int { [3, 0, 1, 5][v % 4] }

    static func double(_ v: Int) -> Double {
        [3.141592653589793, 0, -1.5e300, .infinity, -.infinity, .leastNonzeroMagnitude, 42][v % 7]
    }

    static func float(_ v: Int) -> Float {
        [1.25, 0, -3.4e38, .infinity, .leastNormalMagnitude, 7][v % 6]
    }

    static func int32(_ v: Int) -> Int32 { [Int32.min, -1, 0, 1, Int32.max, 300][v % 6] }
    static func int64(_ v: Int) -> Int64 { [Int64.min, -1, 0, 1, Int64.max, 1 << 40][v % 6] }
    static func uint32(_ v: Int) -> UInt32 { [UInt32.max, 0, 1, 128, 1 << 31][v % 5] }
    static func uint64(_ v: Int) -> UInt64 { [UInt64.max, 0, 1, 128, 1 << 63][v % 5] }
    static func bool(_ v: Int) -> Bool { v % 2 == 0 }
    static func string(_ v: Int) -> String { strings[v % strings.count] }

    static func bytes(_ v: Int) -> [UInt8] {
        [[0, 1, 2, 255], [], [0], Array(0...255), [0xC3, 0x28]][v % 5]
    }

    /// Known values and, every third variant, a value no .proto declares (must survive).
    static func enumRaw<E: ProtoEnum>(_ v: Int, known: [E]) -> Int32 {
        if v % 3 == 2 { return 1_000 + Int32(v % 7) }
        return known[v % known.count].rawValue
    }
}
