import Foundation
import Synchronization

/// Time-ordered identifiers (RFC 9562 UUIDv7), so that sorting by id sorts by creation time on
/// both backends and keyset pagination by id follows insertion order.
public enum UUIDv7 {
    /// Last (milliseconds, counter) issued by this process, so ids made within one millisecond
    /// still increase: the 12-bit `rand_a` field is used as a counter (RFC 9562 method 1).
    private static let state = Mutex<(millis: UInt64, counter: UInt16)>((0, 0))

    public static func generate(now: Date = Date()) -> String {
        var millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let counter: UInt16 = state.withLock { last in
            if millis <= last.millis {
                millis = last.millis
                if last.counter >= 0x0FFF {
                    millis += 1
                    last = (millis, UInt16.random(in: 0...0x00FF))
                } else {
                    last.counter += 1
                }
            } else {
                last = (millis, UInt16.random(in: 0...0x00FF))
            }
            return last.counter
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index)))
        }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: counter >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        var random = SystemRandomNumberGenerator()
        for index in 8..<16 {
            bytes[index] = random.next()
        }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}
