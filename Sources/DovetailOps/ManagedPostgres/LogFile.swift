import Foundation

/// Reads the end of a server log, for `logs` and for errors.
enum LogFile {
    /// The last `lines` lines of the file (or of the part after byte `offset`); empty when there is no file.
    static func tail(_ path: String, lines: Int, from offset: UInt64 = 0) -> String {
        guard lines > 0, let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        // Reading the last 256 KiB is enough for any sensible tail and bounded however big the log grows.
        let start = max(offset, size > 262_144 ? size - 262_144 : 0)
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return "" }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        guard !text.isEmpty else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The text written to the file after byte `offset`.
    static func text(_ path: String, from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
