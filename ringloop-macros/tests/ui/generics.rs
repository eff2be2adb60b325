#[ringloop::test]
async fn generic<T: Default>() {}

#[ringloop::test]
async fn where_clause()
where
    u32: Copy,
{
}

fn main() {}
