/// Operations on database servers: the managed local PostgreSQL, agent database provisioning,
/// the verified data copy and `.env` credentials. Built on `DovetailStore`.
public enum DovetailOps {}
