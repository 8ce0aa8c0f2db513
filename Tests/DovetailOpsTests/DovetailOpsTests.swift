import DovetailOps
import Testing

@Suite("DovetailOps")
struct DovetailOpsTests {
    @Test
    func moduleLinks() {
        #expect(String(describing: DovetailOps.self) == "DovetailOps")
    }
}
